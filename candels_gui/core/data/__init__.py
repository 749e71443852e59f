"""Input data: stamp sets, catalogs and every reader of them.

Lives here: :class:`~.stampset.StampSet` (images, int32 segmentation maps, catalog), catalog columns and
filters (:mod:`.catalog`), one reader per input format (:mod:`.readers_npy` for candels-blender folders,
:mod:`.readers_fits`, :mod:`.readers_galsim` for GalSim/COSMOS real-galaxy catalogs, their shared checks in
:mod:`.readers_common`) and :func:`~.load.load_stampset`, which picks one from the path; the public CANDELS
download and its archives (:mod:`.download`, :mod:`.archive`); automatic segmentation (:mod:`.autoseg`); the
sample-data generator (:mod:`.samplegen`) with its galaxy models (:mod:`.galaxy_models`) and noise and
labeller (:mod:`.sample_labels`); deep fields: the mock field (:mod:`.fieldsim`), FITS fields read memory-mapped and
written tile by tile (:mod:`.field_fits`), SEP detection tile by tile (:mod:`.field_detect`) and stamps cut from a
field (:mod:`.field_stamps`).

May import: numpy, scipy, astropy, photutils, h5py and the root modules of :mod:`candels_gui.core`
(``errors``, ``jobs``, ``rng``). Never another sub-package of core, Qt or torch.
"""
