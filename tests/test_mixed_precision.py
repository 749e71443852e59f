"""The mixed-precision path of training (bfloat16 autocast, as ``train`` runs on CUDA), checked on the CPU.

CI has no GPU; autocast works the same way on the CPU, so each model's training step is run under it here:
its losses stay float32 and finite and a few steps lower them.
"""

from __future__ import annotations

import numpy as np
import pytest

from test_deblend import _write_h5

torch = pytest.importorskip("torch")

SMALL = {"unet-seg": {"base": 8, "depth": 2}, "unet-deblend": {"base": 8, "depth": 2},
         "cgan": {"base": 8, "depth": 3}, "blend2flux": {"base": 8, "depth": 2}}


@pytest.mark.parametrize("name", list(SMALL))
def test_training_step_under_bfloat16_autocast_lowers_the_loss(tmp_path, name):
    from candels_gui.deblend.models import PatchDiscriminator, build_model
    from candels_gui.deblend.training import TrainingData, train_step

    data = TrainingData(_write_h5(tmp_path / "blends.h5", n=16), name)
    x, y, log_flux = (torch.from_numpy(a) for a in data.batch(np.arange(16), with_flux=True))
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    disc = PatchDiscriminator(base=8) if name == "cgan" else None
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    optim_d = torch.optim.Adam(disc.parameters(), lr=1e-3) if disc is not None else None
    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=True)
    with torch.autocast(**amp):
        assert model(x).dtype == torch.bfloat16          # autocast is in effect for this model's layers
    losses = []
    for _ in range(12):
        loss = train_step(name, model, disc, optim, optim_d, x, y, amp=amp, log_flux=log_flux, flux_weight=1.0)
        assert loss.dtype == torch.float32
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert min(losses[-3:]) < 0.9 * losses[0]
