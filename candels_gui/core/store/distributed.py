"""``produce`` and ``concatenate`` by partitions: on a Dask cluster (``--scheduler``) or into a Zarr store.

The specs are drawn once, on the client, exactly as :func:`~candels_gui.core.store.produce.produce` draws
them; each partition of a split (``partition_size`` consecutive blends) is then rendered by a worker
from its specs and the stamps (:class:`~candels_gui.core.store.sources.StampSource`, read once per
worker), and

* ``fmt="zarr"``: written by that worker into its own chunks of the store (:mod:`.zarr_store`), which
  records the partition as done; the client writes the blend catalogues and the manifest at the end
  and renames the store into place. ``resume=True`` keeps the partitions an interrupted run wrote.
* ``fmt="hdf5"``: sent back to the client, which writes them in order into ``blends.h5`` with the
  writer of :mod:`.hdf5` (one HDF5 file has one writer).

:func:`concatenate_partitioned` has each worker read (or render) its rows of ``blends.h5`` /
``blends.zarr``, label them and write them at their offsets in the pre-sized ``.npy`` files, which are
renamed when every partition is done. Either way the arrays, catalogues and npy files are the bytes a
one-process run writes, whatever the number of workers and the partition size.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..blending.catalogue import append_catalog_csv, blend_catalog, CATALOG_COLUMNS
from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..blending.labels import LABEL_METHODS, blend_fluxes, label_dtype, label_shape, make_labels
from ..data.stampset import StampSet
from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel
from ..parallel import DEFAULT_PARTITION_SIZE, n_workers, partition_ranges, run_partitions
from .common import (AtomicFiles, Splits, build_manifest, file_entry, split_prefix, write_json)
from .produce import PRODUCE_FILE, ProduceOptions, draw_split_specs
from .sources import SplitSource, StampSource, open_split
from .zarr_store import (create_zarr_layout, done_partitions, finish_zarr, is_local, local_path,
                         mark_partition_done, open_zarr, partial_url, remove_store, resumable_store,
                         write_zarr_rows, zarr_catalog)

__all__ = ["produce_partitioned", "concatenate_partitioned", "ZARR_PRODUCE_NAME", "stamp_source"]

#: Name of the Zarr store ``produce --format zarr`` writes in its output folder.
ZARR_PRODUCE_NAME = "blends.zarr"


def stamp_source(stamps: StampSet, data_path: str | os.PathLike | None, client: Any | None = None,
                 load_options: dict[str, Any] | None = None) -> tuple[StampSource, Any]:
    """How workers get ``stamps``: ``(source, None)``, read from ``data_path`` (checked against the
    stamps' content hash), or, without a path, ``(source, stamps)`` with the StampSet itself passed to
    every task (on a cluster: scattered, each worker receives it once)."""
    if data_path is not None:
        data_path = Path(data_path).resolve()      # workers have other working folders
        return StampSource(os.fspath(data_path), stamps.content_hash(),
                           tuple(sorted((load_options or {}).items()))), None
    carried: Any = stamps
    if client is not None:
        [carried] = client.scatter([stamps], broadcast=True, hash=False)
    return StampSource(None, stamps.content_hash()), carried


def _run_digest(splits: Splits, options: dict[str, Any], content_hash: str) -> str:
    """What an unfinished store must have been started with for ``--resume`` to continue it."""
    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    h.update(content_hash.encode())
    for name, specs in splits:
        h.update(f"[{name}]".encode())
        for s in specs:
            h.update(s.to_json().encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------- on a worker
def render_partition(source: StampSource, stamps: StampSet | None, noise_model: str,
                     specs: Sequence[BlendSpec], start: int) -> BlendBatch:
    """Task: render ``specs`` (rows ``start ..`` of their split) on this worker."""
    engine = source.engine(stamps, noise_model=noise_model)
    batch = engine.render_batch(list(specs))
    batch.indices = np.arange(start, start + len(specs), dtype=np.int64)
    return batch


def write_zarr_partition(source: StampSource, stamps: StampSet | None, noise_model: str, zeropoint: float,
                         url: str, split: str | None, index: int, start: int, specs: Sequence[BlendSpec]) -> int:
    """Task: render partition ``index`` of ``split`` and write it into its chunks of the store at ``url``;
    mark it done. Returns the number of blends."""
    engine = source.engine(stamps, noise_model=noise_model)
    specs = list(specs)
    batch = engine.render_batch(specs)
    cat = blend_catalog(engine.stamps, specs, start_id=start, flux_out_frac=batch.flux_out_frac)
    write_zarr_rows(url, split, start, {
        "blend_images": batch.images, "isolated_images": batch.isolated, "masks": batch.masks.view(np.uint8),
        "fluxes": blend_fluxes(engine.stamps, specs, zeropoint=zeropoint),
        "flux_out_frac": batch.flux_out_frac,
        "specs": np.array([s.to_json() for s in specs], dtype=object)}, catalog=cat)
    mark_partition_done(url, split, index)
    return len(specs)


# -------------------------------------------------------------------------------------- produce
def produce_partitioned(stamps: StampSet, outdir: str | os.PathLike, options: ProduceOptions | None = None, *,
                        client: Any | None = None, fmt: str = "zarr", data_path: str | os.PathLike | None = None,
                        partition_size: int = DEFAULT_PARTITION_SIZE, resume: bool = False,
                        cancel: CancelToken | None = None) -> Job:
    """Job: ``produce`` with its blends rendered by partitions, on ``client``'s cluster or here.

    Parameters
    ----------
    stamps : StampSet
        The input, as the client read it (the specs are drawn from it here).
    outdir : path or URL
        Output folder (``fmt="zarr"``: a URL fsspec understands works too).
    options : ProduceOptions
        As for :func:`~candels_gui.core.store.produce.produce`; ``fmt="zarr"`` needs ``storage="arrays"``.
    client : distributed.Client, optional
        The cluster; ``None`` runs the partitions in this process.
    fmt : {"zarr", "hdf5"}
        A Zarr store written by the workers, or ``blends.h5`` written by the client.
    data_path : path, optional
        Where workers read the input (the path ``stamps`` was read from); without it, the stamps travel.
    partition_size : int
        Blends per task (and per Zarr chunk).
    resume : bool
        Zarr: continue the unfinished store a stopped run with the same input, options and seed left.

    Returns
    -------
    Path or str
        The output folder.
    """
    options = options or ProduceOptions()
    if fmt not in ("zarr", "hdf5"):
        raise ValueError(f"format must be zarr or hdf5, got {fmt!r}")
    if fmt == "zarr" and options.storage != "arrays":
        raise ValueError("--format zarr stores every blend's arrays: use --storage arrays (compact storage is "
                         "an HDF5 file)")
    partition_ranges(1, partition_size)  # checks the size
    splits_map = yield from draw_split_specs(stamps, options, cancel=cancel)
    splits: Splits = list(splits_map.items())
    source, carried = stamp_source(stamps, data_path, client)
    engine = BlendEngine(stamps, noise_model=options.noise_model)
    if fmt == "hdf5":
        from .export import export

        render = _remote_renderer(client, source, carried, options.noise_model, partition_size)
        yield from export(Path(outdir), engine, splits_map, fmt="hdf5", filename=PRODUCE_FILE,
                          compression=options.compression, storage=options.storage,
                          batch_size=options.batch_size, seed=options.seed, options=options.to_dict(),
                          cancel=cancel, render=render)
        return Path(outdir)
    target = str(local_path(outdir).resolve()) if is_local(outdir) else os.fspath(outdir)
    yield from _produce_zarr(client, (source, carried), engine, splits, options, target, int(partition_size),
                             resume, cancel)
    return Path(outdir) if is_local(outdir) else os.fspath(outdir)


def _remote_renderer(client: Any | None, source: StampSource, carried: Any, noise_model: str,
                     partition_size: int) -> Callable[..., Job]:
    """A ``render`` for :func:`~.hdf5.write_hdf5`: partitions rendered by the workers, written in order."""
    def render(engine: BlendEngine, splits: Splits, *, batch_size: int, cancel: CancelToken | None,
               write: Callable[[int, BlendBatch], None]) -> Job:
        tasks, sizes, where = [], [], []
        for k, (_, specs) in enumerate(splits):
            for a, b in partition_ranges(len(specs), partition_size):
                tasks.append((source, carried, noise_model, specs[a:b], a))
                sizes.append(b - a)
                where.append(k)
        total = sum(sizes)
        yield from run_partitions(client, render_partition, tasks, sizes=sizes, ordered=True,
                                  on_result=lambda i, batch: write(where[i], batch), message="rendering blends",
                                  total=total, key="render", cancel=cancel,
                                  max_in_flight=None if client is None else 2 * n_workers(client) + 2)
        return total
    return render


def _produce_zarr(client: Any | None, source: tuple[StampSource, Any], engine: BlendEngine, splits: Splits,
                  options: ProduceOptions, outdir: str, partition_size: int, resume: bool,
                  cancel: CancelToken | None) -> Job:
    zp = float(engine.stamps.zeropoint)
    opts = {"batch_size": int(options.batch_size), "label_method": None, "compression": options.compression,
            "compression_level": 4 if options.compression == "gzip" else None, "zeropoint": zp,
            "storage": "arrays", "format": "zarr", "partition_size": partition_size, **options.to_dict()}
    final = _join(outdir, ZARR_PRODUCE_NAME)
    url = partial_url(final)
    digest = _run_digest(splits, {**options.to_dict(), "partition_size": partition_size},
                         engine.stamps.content_hash())
    manifest = build_manifest("zarr", engine, splits, method=None, seed=options.seed, options=opts,
                              data_file=ZARR_PRODUCE_NAME,
                              split_info={name: {"group": f"/{name}" if name else "/"} for name, _ in splits})
    if is_local(outdir):
        local_path(outdir).mkdir(parents=True, exist_ok=True)
    kept = resumable_store(url, digest, "the same produce command") if resume else False
    if not kept:
        remove_store(url)
        manifest["arrays"] = create_zarr_layout(url, engine, splits, manifest=manifest,
                                                partition_size=partition_size, compression=options.compression)
        open_zarr(url, mode="r+").attrs["run_digest"] = digest
    else:
        manifest["arrays"] = _array_entries(url, splits)
    tasks, sizes = [], []
    done = 0
    for name, specs in splits:
        finished = done_partitions(url, name)
        for j, (a, b) in enumerate(partition_ranges(len(specs), partition_size)):
            if finished[j]:
                done += b - a
                continue
            tasks.append((*source, options.noise_model, zp, url, name, j, a, specs[a:b]))
            sizes.append(b - a)
    total = sum(len(s) for _, s in splits)
    yield from run_partitions(client, write_zarr_partition, tasks, sizes=sizes, done=done, total=total,
                              message="writing blends" + (" (resumed)" if kept else ""), key="zarr",
                              cancel=cancel)
    check_cancel(cancel)
    yield Progress(total, total, "writing the catalogues")
    _finish_produce(url, final, outdir, splits, manifest)


def _join(base: str, name: str) -> str:
    return str(local_path(base) / name) if is_local(base) else base.rstrip("/") + "/" + name


def _array_entries(url: str, splits: Splits) -> list[dict[str, Any]]:
    from .common import array_entry

    root = open_zarr(url)
    out = []
    for name, _ in splits:
        g = root[name] if name else root
        for key in ("blend_images", "isolated_images", "masks", "fluxes", "flux_out_frac", "specs"):
            a = g[key]
            out.append(array_entry(name, f"{'/' + name if name else ''}/{key}", a.shape,
                                   object if key == "specs" else a.dtype))
    return out


def _finish_produce(url: str, final: str, outdir: str, splits: Splits, manifest: dict[str, Any]) -> None:
    """Catalogue CSVs (read back from the store, in order), manifest, then the store renamed into place."""
    root = open_zarr(url)
    local = is_local(outdir)
    atomic = AtomicFiles(local_path(outdir)) if local else None
    try:
        for name, specs in splits:
            fname = f"{split_prefix(name)}catalogue.csv"
            g = root[name] if name else root
            target = atomic.temp(fname) if atomic is not None else _join(outdir, fname)
            with _open_text(target) as fh:
                fh.write(",".join(CATALOG_COLUMNS) + "\n")
                step = int(root.attrs["partition_size"])
                for a in range(0, len(specs), step):
                    append_catalog_csv(fh, zarr_catalog(g, slice(a, a + step)))
            if atomic is not None:
                manifest["files"].append(file_entry(Path(target), fname, split=name, rows=len(specs),
                                                    columns=list(CATALOG_COLUMNS)))
        manifest["files"].append({"name": ZARR_PRODUCE_NAME, "kind": "zarr store", "sha256": None})
        finish_zarr(url, manifest)
        if atomic is not None:
            write_json(atomic.temp("manifest.json"), manifest)
            _rename_store(url, final)
            atomic.commit()
        else:
            with _open_text(_join(outdir, "manifest.json")) as fh:
                fh.write(json.dumps(manifest, indent=1))
    except BaseException:
        if atomic is not None:
            atomic.discard()
        raise


def _open_text(target: str | Path) -> Any:
    if isinstance(target, Path) or is_local(target):
        return open(local_path(target), "w", encoding="utf-8", newline="")
    import fsspec

    return fsspec.open(target, "w", encoding="utf-8", newline="").open()


def _rename_store(url: str, final: str) -> None:
    """Move a complete local store over its final name (an older one there is removed after)."""
    if url == final:
        return
    src, dst = local_path(url), local_path(final)
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old")
        remove_store(str(old))
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        remove_store(str(old))


# ---------------------------------------------------------------------------------- concatenate
def concatenate_partition(source: SplitSource, sel: tuple[int, int], method: str,
                          targets: tuple[tuple[str, int, int], tuple[str, int, int]]) -> int:
    """Task: read (or render) rows ``sel`` of a split, label them and write both at their offsets into the
    pre-sized npy files ``targets`` (``(path, data offset, bytes per row)`` for images, then labels)."""
    a, b = sel
    images, isolated, masks = source.rows(slice(a, b), isolated=method == "single_images")
    labels = make_labels(method, masks=masks, isolated=isolated)
    for (path, offset, row_bytes), arr in zip(targets, (images, labels)):
        data = np.ascontiguousarray(arr)
        try:
            fh = open(path, "r+b")    # never creates: a file removed by a cancelled run stays removed
        except FileNotFoundError:
            raise DataError(f"a worker cannot open {path}: the output folder must be on storage every worker "
                            f"shares (or the run was cancelled)") from None
        with fh:
            os.pwrite(fh.fileno(), memoryview(data).cast("B"), offset + a * row_bytes)
    return b - a


def concatenate_partition_zarr(source: SplitSource, sel: tuple[int, int], method: str, url: str,
                               names: tuple[str, str]) -> int:
    """Task: rows ``sel`` of a split, labelled, written into arrays ``names`` (images, labels) of the store."""
    a, b = sel
    images, isolated, masks = source.rows(slice(a, b), isolated=method == "single_images")
    labels = make_labels(method, masks=masks, isolated=isolated)
    write_zarr_rows(url, None, a, {names[0]: images, names[1]: labels})
    return b - a


def _presized_npy(path: Path, dtype: Any, shape: tuple[int, ...]) -> tuple[str, int, int]:
    """Create ``path`` as an npy file of ``shape`` (header, then zeros): ``(path, data offset, row bytes)``."""
    from numpy.lib import format as npformat

    dt = np.dtype(dtype)
    with open(path, "wb") as fh:
        npformat.write_array_header_1_0(fh, {"descr": npformat.dtype_to_descr(dt), "fortran_order": False,
                                             "shape": tuple(shape)})
        offset = fh.tell()
        row = int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize
        fh.truncate(offset + row * int(shape[0]))
    return str(path), offset, row


#: The Zarr store of ``concatenate --format zarr``: arrays ``{split}_images`` and ``{split}_labels``.
CONCATENATED_ZARR = "concatenated.zarr"


def concatenate_partitioned(image_dir: str | os.PathLike, method: str, *, client: Any | None = None,
                            partition_size: int = DEFAULT_PARTITION_SIZE, delete: bool = False, fmt: str = "npy",
                            cancel: CancelToken | None = None) -> Job:
    """Job: :func:`~candels_gui.core.store.concatenate.concatenate` by partitions (on ``client``'s
    cluster, or here), from ``blends.h5`` or ``blends.zarr``; the same files, byte for byte.

    ``fmt="zarr"`` writes the same arrays into one Zarr store, ``concatenated.zarr``: arrays
    ``train_images``, ``train_labels``, ... (the npy files' names without ``.npy``), chunked by partition,
    root attributes ``label_method`` and ``complete``; ``dask.array.from_zarr`` or ``zarr.open`` read them.
    Every worker writes into the output folder: on a cluster it must be shared storage.
    """
    from .concatenate import _record  # noqa: PLC2701  (the manifest note, shared with the one-process path)

    if method not in LABEL_METHODS:
        raise ValueError(f"unknown label method {method!r}; choose one of {LABEL_METHODS}")
    partition_ranges(1, partition_size)
    folder = Path(image_dir).resolve()      # the workers write into it, from other working folders
    src = _produced_store(folder)
    from .export import check_not_unfinished, export_splits

    if src is None:
        check_not_unfinished(folder)
        raise DataError(f"{folder / PRODUCE_FILE} not found: run 'candels-gui produce -o {folder}' first")

    sources = [open_split(src, split) for split in export_splits(src)]
    shape = _stamp_shape(sources[0])
    if fmt == "zarr":
        return (yield from _concatenate_zarr(folder, sources, shape, method, client, int(partition_size), cancel))
    if fmt != "npy":
        raise ValueError(f"format must be npy or zarr, got {fmt!r}")
    atomic = AtomicFiles(folder)
    written: list[Path] = []
    try:
        tasks, sizes = [], []
        for source in sources:
            n = source.n
            pre = split_prefix(source.split)
            names = (f"{pre}images.npy", f"{pre}labels.npy")
            targets = (_presized_npy(atomic.temp(names[0]), np.float32, (n, *shape)),
                       _presized_npy(atomic.temp(names[1]), label_dtype(method), label_shape(method, n, *shape)))
            for a, b in partition_ranges(n, partition_size):
                tasks.append((source, (a, b), method, targets))
                sizes.append(b - a)
            written += [folder / name for name in names]
        yield from run_partitions(client, concatenate_partition, tasks, sizes=sizes, message="concatenating",
                                  key="concatenate", cancel=cancel)
        check_cancel(cancel)
        atomic.commit()
        _record(folder, method, written)
    except BaseException:
        atomic.discard()
        raise
    if delete:
        remove_store(str(src)) if src.is_dir() else src.unlink()
    return written


def _produced_store(folder: Path) -> Path | None:
    """The ``blends.h5`` or ``blends.zarr`` of a produce folder: the one its manifest names when both are
    there (a folder produced again in the other format with ``--force``)."""
    candidates = [folder / name for name in (PRODUCE_FILE, ZARR_PRODUCE_NAME) if (folder / name).exists()]
    manifest = folder / "manifest.json"
    if len(candidates) > 1 and manifest.is_file():
        try:
            named = json.loads(manifest.read_text(encoding="utf-8")).get("data_file")
        except json.JSONDecodeError:
            named = None
        candidates = [c for c in candidates if c.name == named] or candidates
    return candidates[0] if candidates else None


def _concatenate_zarr(folder: Path, sources: list[SplitSource], shape: tuple[int, int], method: str,
                      client: Any | None, size: int, cancel: CancelToken | None) -> Job:
    from .concatenate import _record  # noqa: PLC2701

    final = str(folder / CONCATENATED_ZARR)
    url = partial_url(final)
    remove_store(url)
    root = open_zarr(url, mode="w")
    root.attrs.update({"label_method": method, "complete": False, "partition_size": size})
    tasks, sizes = [], []
    try:
        for source in sources:
            n, pre = source.n, split_prefix(source.split)
            names = (f"{pre}images", f"{pre}labels")
            for name, dtype, full in ((names[0], np.float32, (n, *shape)),
                                      (names[1], label_dtype(method), label_shape(method, n, *shape))):
                root.create_array(name, shape=full, chunks=(max(1, min(size, n)), *full[1:]), dtype=dtype,
                                  compressors=None, fill_value=0)
            for a, b in partition_ranges(n, size):
                tasks.append((source, (a, b), method, url, names))
                sizes.append(b - a)
        yield from run_partitions(client, concatenate_partition_zarr, tasks, sizes=sizes, message="concatenating",
                                  key="concatenate", cancel=cancel)
        check_cancel(cancel)
    except BaseException:
        remove_store(url)     # no resume here: a store of arrays the blends give again in minutes
        raise
    root.attrs["complete"] = True
    _rename_store(url, final)
    _record(folder, method, [Path(final)])
    return [Path(final)]


def _stamp_shape(source: SplitSource) -> tuple[int, int]:
    images, _, _ = source.rows(slice(0, 1), isolated=False)
    return int(images.shape[1]), int(images.shape[2])
