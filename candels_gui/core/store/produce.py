"""``produce``: candels-blender's whole pipeline as one job: cut, split by galaxy, draw, render, write.

The output folder holds ``blends.h5`` (groups ``train`` and ``test``), ``train_catalogue.csv`` /
``test_catalogue.csv`` (candels-blender's columns plus ours) and ``manifest.json``; ``concatenate``
turns it into the npy layout for a label method, ``convert`` writes the flux arrays.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generator

import numpy as np

from ..blending.engine import BlendEngine, BlendSpec
from ..data.catalog import CatalogFilter, split_by_galaxy
from ..blending.cleaning import NoiseModel
from ..errors import DataError
from ..jobs import CancelToken, Progress
from ..blending.sampling import SamplingRules, iter_sample_specs
from ..data.stampset import StampSet
from .common import split_prefix

__all__ = ["ProduceOptions", "produce", "draw_split_specs", "PRODUCE_FILE", "produce_file", "check_produce_size",
           "remove_derived_arrays", "DERIVED_ARRAYS",
           "BYTES_PER_BLEND_COMPACT", "MEMORY_PER_BLEND", "with_galtypes"]

#: Name of the HDF5 file that ``produce`` writes in its output folder.
PRODUCE_FILE = "blends.h5"


def produce_file(path: str | os.PathLike) -> Path:
    """``path``, or the :data:`PRODUCE_FILE` inside it when it is a produce output folder holding one."""
    path = Path(path)
    return path / PRODUCE_FILE if path.is_dir() and (path / PRODUCE_FILE).is_file() else path
#: Bytes on disk per blend of compact storage: the spec, fluxes and catalogue row in blends.h5, the spec in
#: manifest.json and the row of the catalogue CSV. Measured 570 B (``produce -n 100000``: blends.h5 30 MB
#: without its stamp library, manifest 11 MB, catalogues 15 MB); 900 keeps a margin. The library comes on top.
BYTES_PER_BLEND_COMPACT = 900
#: Bytes of memory per blend while producing (its BlendSpec and the manifest's spec text are all held).
#: Measured 1.4 kB (peak RSS 246 MB at -n 100000 against 107 MB at -n 1000).
MEMORY_PER_BLEND = 1500


def check_produce_size(n_blends: int, outdir: str | Path, *, storage: str = "compact",
                       stamp_size: tuple[int, int] | None = None, option: str = "-n") -> None:
    """Refuse ``n_blends`` that cannot fit on the disk of ``outdir`` or in memory, before any work.

    ``arrays`` storage adds the blend image, the two isolated images (float32) and the two masks (uint8)
    of every blend; without ``stamp_size`` the check uses the smallest stamp accepted (16 px).
    """
    from ..validate import check_fits_on_disk, format_bytes

    h, w = stamp_size or (16, 16)
    per = BYTES_PER_BLEND_COMPACT + (h * w * (4 + 2 * 4 + 2) if storage == "arrays" else 0)
    check_fits_on_disk(outdir, float(n_blends) * per, option, f"{n_blends:,} blends ({storage} storage, "
                       f"~{format_bytes(per)} each)", memory=float(n_blends) * MEMORY_PER_BLEND)


@dataclass(frozen=True)
class ProduceOptions:
    """Options of ``candels-gui produce`` (candels-blender's names and defaults, plus ours).

    Parameters
    ----------
    n_blends : int
        Number of blends, train and test together (candels-blender: 100).
    test_ratio : float
        Fraction of galaxies reserved for the test set, and of blends drawn from them (0.2).
    seed : int
        Data-set seed (42).
    catalog_filter : CatalogFilter
        Cuts (candels-blender: ``mag_low`` 0 < mag < ``mag_high`` 100, excluded types).
    rules : SamplingRules
        Pair and offset rules (``mag_diff`` 2, ``rad_diff`` 4, ...).
    noise_model : {"clipped", "candels-blender"}
        Neighbour-cleaning noise model.
    compression : {None, "lzf", "gzip"}
        HDF5 compression.
    storage : {"arrays", "compact"}
        Write every blend's arrays, or the specs plus a stamp library that readers render from
        (:mod:`candels_gui.core.store.stamp_library`).
    batch_size : int
        Blends rendered and written per chunk (bounds memory).
    """

    n_blends: int = 100
    test_ratio: float = 0.2
    seed: int = 42
    catalog_filter: CatalogFilter = field(default_factory=lambda: CatalogFilter(mag_low=0, mag_high=100))
    rules: SamplingRules = field(default_factory=SamplingRules)
    noise_model: NoiseModel = "clipped"
    compression: str | None = None
    storage: str = "compact"
    batch_size: int = 256

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the manifest."""
        d = asdict(self)
        d["catalog_filter"] = self.catalog_filter.to_dict()
        d["rules"] = self.rules.to_dict()
        return d


def draw_split_specs(stamps: StampSet, options: ProduceOptions, *, cancel: CancelToken | None = None
                     ) -> Generator[Progress, None, dict[str, list[BlendSpec]]]:
    """Job: apply the cuts, split galaxies into train/test pools and draw the specs of each split.

    Train blends take blend indices ``0 .. n_train - 1`` and test blends the following ones, so
    every blend's random draws depend only on ``(seed, index)``.
    """
    if options.n_blends < 1:
        raise ValueError(f"n_blends must be >= 1, got {options.n_blends}")
    pool = np.flatnonzero(options.catalog_filter.mask(stamps.catalog))
    if len(pool) < 2:
        if len(stamps) < 2:
            raise DataError(f"the data hold {len(stamps)} galaxy: a blend needs two")
        default = CatalogFilter().to_dict()   # (no "ids" key: an ID list always differs)
        cuts = ", ".join(f"{k}={v}" for k, v in options.catalog_filter.to_dict().items()
                         if v != default.get(k)) or "none"
        raise DataError(f"only {len(pool)} of the {len(stamps)} galaxies pass the cuts ({cuts}); loosen them")
    train_pool, test_pool = split_by_galaxy(pool, options.test_ratio, options.seed)
    n_test = int(options.test_ratio * options.n_blends)
    n_train = options.n_blends - n_test
    splits: dict[str, list[BlendSpec]] = {}
    for name, n, sub_pool, start in (("train", n_train, train_pool, 0),
                                     ("test", n_test, test_pool, n_train)):
        if n == 0:
            continue
        if len(sub_pool) < 2:
            raise DataError(f"the {name} split has {len(sub_pool)} galaxies after the cuts; "
                            f"it needs at least 2 (change test_ratio or the cuts)")
        splits[name] = yield from iter_sample_specs(stamps, n, options.rules, seed=options.seed,
                                                    pool=sub_pool, start_index=start, cancel=cancel)
    return splits


def with_galtypes(stamps: StampSet, galtypes: np.ndarray | list[str]) -> StampSet:
    """``stamps`` with its catalog's ``galtype`` replaced by ``galtypes`` (the old column kept as
    ``galtype_catalog``); the arrays are shared, not copied."""
    galtypes = np.asarray(galtypes).astype(str)
    if galtypes.shape != (len(stamps),):
        raise DataError(f"{len(galtypes)} galaxy types given for {len(stamps)} stamps")
    catalog = stamps.catalog.copy(copy_data=False)
    if "galtype_catalog" not in catalog.colnames:
        catalog["galtype_catalog"] = catalog["galtype"]
    catalog["galtype"] = galtypes
    return StampSet(images=stamps.images, segmaps=stamps.segmaps, catalog=catalog, psfs=stamps.psfs,
                    pixel_scale=stamps.pixel_scale, zeropoint=stamps.zeropoint, source=stamps.source,
                    meta=dict(stamps.meta))


def produce(stamps: StampSet, outdir: str | Path, options: ProduceOptions | None = None, *,
            galtypes: np.ndarray | list[str] | None = None, galtype_source: str = "catalog",
            cancel: CancelToken | None = None) -> Generator[Progress, None, Path]:
    """Job: make ``options.n_blends`` blends from ``stamps`` into ``outdir`` (see module docstring).

    ``galtypes`` (one per stamp, e.g. the morphology classifier's predictions, computed by the caller)
    replaces the catalog's ``galtype`` for the type cuts and the written catalogues; ``galtype_source``
    names where they came from in the manifest. Nothing is left in ``outdir`` if the job is cancelled
    or fails. Returns the output folder.
    """
    from .export import export  # the writers import the engine; keep module import light

    options = options or ProduceOptions()
    outdir = Path(outdir)
    manifest_options = options.to_dict()
    if galtypes is not None:
        stamps = with_galtypes(stamps, galtypes)
        manifest_options["galtype_source"] = galtype_source
    splits = yield from draw_split_specs(stamps, options, cancel=cancel)
    engine = BlendEngine(stamps, noise_model=options.noise_model)
    yield from export(outdir, engine, splits, fmt="hdf5", filename=PRODUCE_FILE,
                      compression=options.compression, storage=options.storage,
                      batch_size=options.batch_size,
                      seed=options.seed, options=manifest_options, cancel=cancel)
    remove_derived_arrays(outdir)
    return outdir


#: What ``concatenate`` and ``convert`` derive from a produce folder's blends (stale once they are replaced).
DERIVED_ARRAYS = tuple(f"{split_prefix(split)}{name}" for split in ("train", "test", None)
                       for name in ("images.npy", "labels.npy", "flux.npy"))


def remove_derived_arrays(outdir: str | os.PathLike, *, produced: str = PRODUCE_FILE) -> list[Path]:
    """Remove what an earlier run left that the blends a produce run has just written (``produced``:
    ``blends.h5`` or ``blends.zarr``) replace (``--force``): the arrays ``concatenate``/``convert`` made, the
    Zarr store of ``concatenate --format zarr``, and the blends of the other format (the app and the readers
    would open those). Says so in a :class:`DataWarning`; returns what was removed."""
    import shutil
    import warnings

    from ..errors import DataWarning

    folder = Path(outdir)
    stale = [folder / name for name in DERIVED_ARRAYS if (folder / name).is_file()]
    for name in ("concatenated.zarr", *(n for n in (PRODUCE_FILE, "blends.zarr") if n != produced)):
        if (folder / name).exists():
            stale.append(folder / name)
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if stale:
        warnings.warn(DataWarning(f"{folder}: removed {', '.join(p.name for p in stale)}, left from the blends it "
                                  f"held before; run concatenate (and convert) again for the new ones"))
    return stale
