"""Accuracy of morph-cnn over the four galaxy classes (sph, sphd, disk, irr), by magnitude (docs/morphology.md).

    python docs/morphology/accuracy_by_magnitude.py MORPH_HELDOUT [WEIGHTS.pt]

DATA is a folder of ``make-sample-data --morphology`` (stamps, catalog with ``mag``, ``labels.csv``); WEIGHTS
defaults to the shipped ``resources/models/morph-cnn.pt``. One thread.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from candels_gui.core import load_stampset  # noqa: E402
from candels_gui.core.data.morph_labels import read_labels_csv  # noqa: E402
from candels_gui.core.jobs import run_job  # noqa: E402
from candels_gui.morphology.classifier import MorphClassifier, classify_job  # noqa: E402
from candels_gui.morphology.training import scores  # noqa: E402

torch.set_num_threads(1)
data = sys.argv[1]
stamps = load_stampset(data)
labels = read_labels_csv(Path(data) / "labels.csv", known_ids=stamps.ids)
result = run_job(classify_job(stamps, MorphClassifier.load(sys.argv[2] if len(sys.argv) > 2 else None)))
rows = stamps.indices_of(labels.ids)
probs, truth = result.probabilities[rows], labels.fractions
mag = np.asarray(stamps.catalog["mag"], float)[rows]
galaxy = truth[:, :4].sum(axis=1) > 0.5
print(f"all six classes: {scores(probs, truth)}")
for lo, hi in ((0, 22), (22, 23), (23, 24), (24, 25), (25, 99)):
    sel = galaxy & (mag >= lo) & (mag < hi)
    acc = f"{scores(probs[sel], truth[sel])['accuracy']:.3f}" if sel.any() else "— (no galaxy)"
    print(f"galaxies, magnitude {lo}-{hi}: n {sel.sum()}, accuracy {acc}")
