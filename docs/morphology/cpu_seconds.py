"""CPU time of the classifier and of statmorph per stamp, one thread (docs/morphology.md, Performance).

    python docs/morphology/cpu_seconds.py

On a shared machine the wall-clock figures of ``candels-gui bench --only morphology`` depend on the others' load;
CPU seconds do much less.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from candels_gui.core import load_stampset  # noqa: E402
from candels_gui.core.jobs import run_job  # noqa: E402
from candels_gui.core.measure.morphology import morphology_job  # noqa: E402
from candels_gui.morphology.classifier import MorphClassifier  # noqa: E402
from candels_gui.paths import sample_data_dir  # noqa: E402

torch.set_num_threads(1)
stamps = load_stampset(sample_data_dir())
clf = MorphClassifier.load()
reps = -(-2048 // len(stamps))
images = np.concatenate([np.asarray(stamps.images)] * reps)[:2048]
segmaps = np.concatenate([np.asarray(stamps.segmaps)] * reps)[:2048]
clf.predict(images[:256], segmaps[:256])                     # warm-up
for _ in range(3):
    c0, t0 = time.process_time(), time.perf_counter()
    for s in range(0, len(images), 256):
        clf.predict(images[s:s + 256], segmaps[s:s + 256])
    print(f"classifier, one thread: {len(images) / (time.process_time() - c0):.0f} stamps per CPU-second "
          f"({len(images) / (time.perf_counter() - t0):.0f} stamps/s wall)")
sub = stamps.subset(slice(0, 24))
run_job(morphology_job(sub.subset(slice(0, 2)), workers=1, use_cache=False))   # imports
c0, t0 = time.process_time(), time.perf_counter()
run_job(morphology_job(sub, workers=1, use_cache=False))
print(f"statmorph, one process: {len(sub) / (time.process_time() - c0):.2f} stamps per CPU-second "
      f"({len(sub) / (time.perf_counter() - t0):.2f} stamps/s wall)")
