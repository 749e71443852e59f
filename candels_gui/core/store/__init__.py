"""Writing and reading training sets: produce, concatenate, and the exporters of each format.

Lives here: ``produce`` (:mod:`.produce`) and ``concatenate`` (:mod:`.concatenate`); :func:`~.export.export`
and :func:`~.export.read_export`, which dispatch to one writer and reader per format (:mod:`.npy` for
candels-blender's seed layout, :mod:`.hdf5`, :mod:`.fits`) with their shared manifest, atomic-write and
validation code (:mod:`.common`); the stamp library that compact exports keep and render from
(:mod:`.stamp_library`); the Zarr store (:mod:`.zarr_store`), the readers a worker uses for its rows
(:mod:`.sources`) and produce / concatenate by partitions on Dask (:mod:`.distributed`).

May import: :mod:`candels_gui.core.blending`, :mod:`candels_gui.core.data` and the root modules of core.
Never ``curation``, ``measure`` or ``display``, Qt or torch.
"""
