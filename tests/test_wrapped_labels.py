"""Labels that cannot lie: narrow (uint8) segmentation maps whose labels wrapped around are detected from
their content, with or without a ``segval`` column, on real wrapped data; right narrow maps still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from candels_gui.core.data.label_checks import wrapped_label_evidence
from candels_gui.core.data.load import load_stampset
from candels_gui.core.errors import DataError, WrappedLabelsError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _write(folder: Path, images: np.ndarray, segmaps: np.ndarray, catalog: Table) -> Path:
    folder.mkdir()
    np.save(folder / "candels_img.npy", images)
    np.save(folder / "candels_seg.npy", segmaps)
    catalog.write(folder / "candels_cat.csv", format="ascii.csv")
    return folder


@pytest.fixture(scope="module")
def sample():
    images = np.load(SAMPLE / "candels_img.npy")
    segmaps = np.load(SAMPLE / "candels_seg.npy")
    catalog = Table.read(SAMPLE / "candels_cat.csv", format="ascii.csv")
    assert segmaps.max() > 255  # real CANDELS-like numbers: casting to uint8 wraps them
    return images, segmaps, catalog


def _per_stamp_labels(segmaps: np.ndarray) -> np.ndarray:
    """Right uint8 maps: each stamp's labels renumbered 1, 2, 3, ... (what a per-stamp segmentation gives)."""
    out = np.zeros(segmaps.shape, np.uint8)
    for i, s in enumerate(segmaps):
        _, inv = np.unique(s, return_inverse=True)
        out[i] = inv.reshape(s.shape)
    return out


def test_wrapped_uint8_refused_with_segval(sample, tmp_path):
    images, segmaps, catalog = sample
    folder = _write(tmp_path / "d", images, segmaps.astype(np.uint8), catalog)
    with pytest.raises(WrappedLabelsError, match="segval goes up to"):
        load_stampset(folder)


def test_wrapped_uint8_refused_from_content_alone(sample, tmp_path):
    images, segmaps, catalog = sample
    catalog = catalog.copy()
    catalog.remove_column("segval")       # nothing in the catalog tells
    folder = _write(tmp_path / "d", images, segmaps.astype(np.uint8), catalog)
    with pytest.raises(WrappedLabelsError, match="looks wrapped around"):
        load_stampset(folder)
    # without the content checks it would have loaded: the narrow maps wrapped silently
    stamps = load_stampset(folder, allow_narrow_labels=True)
    assert (stamps.segmaps.max(axis=(1, 2)) <= 255).all()


def test_wrapped_int8_refused(sample, tmp_path):
    images, segmaps, catalog = sample
    catalog = catalog.copy()
    catalog.remove_column("segval")
    folder = _write(tmp_path / "d", images, segmaps.astype(np.int8), catalog)
    with pytest.raises(DataError, match="negative|wrapped"):
        load_stampset(folder)


def test_right_uint8_maps_load(sample, tmp_path):
    images, segmaps, catalog = sample
    catalog = catalog.copy()
    catalog.remove_column("segval")
    stamps = load_stampset(_write(tmp_path / "d", images, _per_stamp_labels(segmaps), catalog))
    assert stamps.segmaps.dtype == np.int32 and len(stamps) == len(images)


def test_right_uint8_maps_of_real_cosmos_stamps_load(cosmos_dir, tmp_path):
    real = load_stampset(cosmos_dir, stamp_size=64)
    catalog = Table({"ID": np.asarray(real.catalog["id"]), "mag": np.asarray(real.catalog["mag"])})
    stamps = load_stampset(_write(tmp_path / "d", np.asarray(real.images), real.segmaps.astype(np.uint8),
                                  catalog))
    assert len(stamps) == len(real) and np.array_equal(stamps.segmaps, real.segmaps)


def test_neighbour_wrapped_to_zero_is_seen(sample):
    """Labels on other galaxies: a bright neighbour left with label 0 (its number was a multiple of 256)."""
    images, segmaps, _ = sample
    right = _per_stamp_labels(segmaps[:40])
    assert wrapped_label_evidence(right, np.uint8, images=images[:40]) == []
    h, w = right.shape[1:]
    broken = right.copy()

    def bright(i, v):  # a neighbour that holds real flux (>= 12 px well above the noise)
        m = right[i] == v
        return v not in (0, right[i, h // 2, w // 2]) and (images[i][m] > 10 * images[i][right[i] == 0].std()).sum() >= 12
    k, neighbour = next((i, v) for i in range(40) for v in np.unique(right[i]) if bright(i, v))
    broken[k][broken[k] == neighbour] = 0
    evidence = wrapped_label_evidence(broken, np.uint8, images=images[:40])
    assert any("label 0" in e for e in evidence), evidence


def test_central_label_on_a_far_neighbour_is_seen(sample):
    images, segmaps, _ = sample
    right = _per_stamp_labels(segmaps[:40])
    h, w = right.shape[1:]
    k = next(i for i in range(40) if len(np.unique(right[i])) > 2)
    centre = right[k, h // 2, w // 2]
    neighbour = next(v for v in np.unique(right[k]) if v not in (0, centre)
                     and (right[k] == v).sum() >= 12)
    broken = right.copy()
    broken[k][broken[k] == neighbour] = centre
    evidence = wrapped_label_evidence(broken, np.uint8, images=images[:40])
    assert any("central label" in e for e in evidence), evidence


def test_catalog_numbers_reveal_wrapping():
    rng = np.random.default_rng(0)
    ids = rng.integers(300, 60000, 30)
    seg = np.zeros((30, 32, 32), np.int64)
    seg[:, 12:20, 12:20] = ids[:, None, None]
    catalog = Table({"id": ids})
    evidence = wrapped_label_evidence(seg.astype(np.uint8), np.uint8, catalog=catalog, content=False)
    assert evidence and "'id'" in evidence[0]
