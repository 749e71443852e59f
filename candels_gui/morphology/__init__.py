"""The morphology classifier (``morph-cnn``): stamp in, probabilities over the CANDELS classes out.

A model family beside the deblenders: it may import :mod:`candels_gui.core` and
:mod:`candels_gui.torch_common`, never the GUI or another family. torch is imported inside functions, so
importing this package costs nothing.

- :mod:`.preprocess` (numpy): stamps to the network's three 64 x 64 input views.
- :mod:`.network`: the CNN (:func:`~.network.build_network`), freezing blocks, folding batch norms.
- :mod:`.classifier`: :class:`~.classifier.MorphClassifier` (load weights, classify batches),
  :func:`~.classifier.classify_job` over a StampSet.
- :mod:`.training`: training and fine-tuning on vote-fraction labels, scores, confusion matrices.
- :mod:`.transfer`: the transfer-learning experiment (fine-tuned vs from scratch vs as shipped,
  against the number of labelled galaxies, cross-validated by galaxy).

The classes are :data:`~candels_gui.core.data.morph_labels.MORPH_CLASSES` (``sph``, ``sphd``, ``disk``,
``irr``, ``ps``, ``unc``); see ``docs/morphology.md`` for their mapping onto the CANDELS main classes.
"""

from __future__ import annotations

from ..core.data.morph_labels import MORPH_CLASSES, PROB_COLUMNS

__all__ = ["MORPH_CLASSES", "PROB_COLUMNS", "ARCHITECTURE"]

#: Registry name of the network (``train --model``, the weights' model card, ``resources/models/``).
ARCHITECTURE = "morph-cnn"
