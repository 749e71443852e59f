"""Measuring deblenders: matching, detection, photometry and image metrics, binned metrics, shapes.

Lives here: Hungarian matching and BlendingToolKit's detection, segmentation, reconstruction and flux
metrics (:mod:`.metrics`); per-blend tables, summaries and metrics binned by separation or magnitude
(:mod:`.binned`); galaxy shapes from GalSim's HSM adaptive moments (:mod:`.shapes`); the statistics of deep fields and their
real-vs-generated comparison (:mod:`.field_stats`) with its figures (:mod:`.field_plots`, matplotlib imported
when drawing).

May import: :mod:`candels_gui.core.blending`, :mod:`candels_gui.core.data` and the root modules of core.
Never ``store``, ``curation`` or ``display``, Qt or torch.
"""
