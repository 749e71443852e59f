"""Non-parametric morphology of every stamp's central galaxy, measured by statmorph (Rodriguez-Gomez et al. 2019).

For each stamp: statmorph's ``SourceMorphology`` on the central galaxy's segment (the label at the stamp
centre), the other segments masked, the stamp's background noise as the weight map (a sigma-clipped
standard deviation of the unsegmented pixels, or the reader's ``noise_variance`` when it has one), the PSF
when the data has one (it enters the Sérsic fit), and the background median subtracted. Measured:
Gini, M20, concentration C, asymmetry A, smoothness S, Sérsic index n, the circular half-light radius
(px), the ellipticity (asymmetry-based), statmorph's S/N per pixel, ``flag`` (0 good, 1 suspect,
2 bad, 4 catastrophic) and ``flag_sersic``. A stamp statmorph cannot measure (no segment at the centre,
non-positive flux, an exception) gets NaN values, ``flag`` 4 and its reason in ``morph_error``: never a crash.

:func:`morphology_job` runs the stamps on every core (a pool of processes, spawned: safe from a GUI
thread), with progress and cancel, and caches the table per data set: a file named after the
StampSet's :meth:`~candels_gui.core.data.stampset.StampSet.content_hash` in the user's cache folder
(:func:`default_cache_dir`, ``$CANDELS_GUI_CACHE_DIR`` overrides it), so a second open is instant.
statmorph is imported inside the functions that use it.

Examples
--------
>>> from candels_gui.core import load_stampset
>>> from candels_gui.core.jobs import run_job
>>> table = run_job(morphology_job(load_stampset("sample_data").subset([0, 1]), workers=1))  # doctest: +SKIP
>>> table.colnames[:4]                                                                   # doctest: +SKIP
['id', 'gini', 'm20', 'concentration']
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..atomic import user_cache_dir
from ..jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["MORPH_COLUMNS", "MORPH_FLOAT_COLUMNS", "CACHE_ENV", "CACHE_VERSION", "PENDING_FLAG", "measure_stamp",
           "morphology_job", "default_cache_dir", "cache_path", "read_cached"]

#: Measured columns, in table order (after ``id``).
MORPH_FLOAT_COLUMNS = ("gini", "m20", "concentration", "asymmetry", "smoothness", "sersic_n", "rhalf",
                       "ellipticity", "sn_per_pixel")
MORPH_COLUMNS = (*MORPH_FLOAT_COLUMNS, "flag", "flag_sersic", "morph_error")
#: Environment variable that overrides the cache folder.
CACHE_ENV = "CANDELS_GUI_CACHE_DIR"
#: Bumped when what is measured changes (old cache files are then ignored).
CACHE_VERSION = 2
_STATMORPH_NAMES = {"gini": "gini", "m20": "m20", "concentration": "concentration", "asymmetry": "asymmetry",
                    "smoothness": "smoothness", "sersic_n": "sersic_n", "rhalf": "rhalf_circ",
                    "ellipticity": "ellipticity_asymmetry", "sn_per_pixel": "sn_per_pixel"}
_CHUNK = 4


def default_cache_dir() -> Path:
    """Where measured tables are cached: ``$CANDELS_GUI_CACHE_DIR``, else the user's cache folder.

    ``~/.cache/candels-gui/morphology`` on Linux (``$XDG_CACHE_HOME`` respected),
    ``~/Library/Caches/candels-gui/morphology`` on macOS, ``%LOCALAPPDATA%\\candels-gui\\morphology`` on Windows.
    """
    return user_cache_dir("morphology", CACHE_ENV)


def cache_path(stamps: Any, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache file of a StampSet's table (named after its content hash)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"statmorph-{stamps.content_hash()}-v{CACHE_VERSION}.ecsv"


def read_cached(stamps: Any, cache_dir: str | os.PathLike | None = None) -> Any | None:
    """The cached table of ``stamps``, or ``None`` (missing, unreadable or of other IDs)."""
    from astropy.table import Table

    path = cache_path(stamps, cache_dir)
    if not path.is_file():
        return None
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception:     # a damaged cache file is re-measured, never an error
        return None
    if len(table) != len(stamps) or not np.array_equal(np.asarray(table["id"]), np.asarray(stamps.ids)):
        return None
    return table


def _failed(reason: str, flag: int = 4) -> dict[str, Any]:
    row: dict[str, Any] = {c: float("nan") for c in MORPH_FLOAT_COLUMNS}
    row.update(flag=flag, flag_sersic=flag, morph_error=reason)
    return row


#: Flag of a row not measured yet, in the partial tables of :func:`morphology_job`.
PENDING_FLAG = -1


def _partial_table(ids: np.ndarray, rows: list[dict[str, Any] | None]) -> Any:
    pending = _failed("not measured yet", PENDING_FLAG)
    return _to_table(ids, [r if r is not None else pending for r in rows])


def _noise(image: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    from astropy.stats import sigma_clipped_stats

    pix = image[background & np.isfinite(image)]
    if pix.size < 16:
        pix = image[np.isfinite(image)]
    if pix.size == 0:
        return 0.0, 0.0
    _, median, std = sigma_clipped_stats(pix, sigma=3.0, maxiters=5)
    return float(median), float(std)


def measure_stamp(image: np.ndarray, segmap: np.ndarray, *, noise_sigma: float | None = None,
                  psf: np.ndarray | None = None, fill: np.ndarray | None = None) -> dict[str, Any]:
    """statmorph on the central galaxy of one stamp; a dict of :data:`MORPH_COLUMNS` (never raises).

    Parameters
    ----------
    image : (H, W) array
        The stamp (background subtracted here by the median of the unsegmented pixels).
    segmap : (H, W) int array
        Its segmentation map; the label at ``(H // 2, W // 2)`` is the galaxy measured, others are masked.
    noise_sigma : float, optional
        Per-pixel noise (default: sigma-clipped standard deviation of the unsegmented pixels).
    psf : (h, w) array, optional
        The PSF, for the Sérsic fit.
    fill : (H, W) bool array, optional
        The data's fill mask (pixels the stamp has no data of its own for). Those that hold zeros (a cut-out
        tool's) are masked; noise pasted in (a reader's padding) stays, as sky.
    """
    try:
        import statmorph
    except ImportError:     # pragma: no cover - a dependency
        return _failed("statmorph is not installed (pip install statmorph)")
    image = np.asarray(image, dtype=np.float64)
    segmap = np.asarray(segmap)
    h, w = image.shape
    label = int(segmap[h // 2, w // 2])
    if label == 0:
        return _failed("no segment at the stamp centre")
    finite = np.isfinite(image)
    empty = np.zeros(image.shape, bool) if fill is None else (np.asarray(fill) != 0) & (image == 0)
    finite &= ~empty
    background = (segmap == 0) & ~empty
    median, sigma = _noise(image, background)
    if noise_sigma is not None and np.isfinite(noise_sigma) and noise_sigma > 0:
        sigma = float(noise_sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        return _failed("no noise in the stamp (constant or empty image)")
    data = np.where(finite, image - median, 0.0)
    mask = ((segmap != 0) & (segmap != label)) | ~finite
    segment = (segmap == label).astype(np.int32)
    if not (segment.astype(bool) & ~mask).any():
        return _failed("the central segment has no finite pixel")
    if psf is not None:
        psf = np.asarray(psf, dtype=np.float64)
        psf = psf / psf.sum() if np.isfinite(psf).all() and psf.sum() > 0 else None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            m = statmorph.SourceMorphology(data, segment, 1, mask=mask, weightmap=np.full_like(data, sigma),
                                           psf=psf)
            row: dict[str, Any] = {}
            for col, name in _STATMORPH_NAMES.items():
                v = float(getattr(m, name))
                row[col] = v if np.isfinite(v) and v != -99.0 else float("nan")
            row.update(flag=int(m.flag), flag_sersic=int(m.flag_sersic), morph_error="")
    except Exception as exc:    # statmorph raises on degenerate segments: a per-galaxy record, not a crash
        return _failed(f"statmorph failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if int(row["flag"]) >= 4:
        row["morph_error"] = "statmorph: catastrophic (non-positive flux in the segment)"
    notes = [row["morph_error"]] if row["morph_error"] else []
    for count, what in ((int(empty.sum()), "pixel(s) without data (the fill mask's zeros)"),
                        (int((~finite & ~empty).sum()), "non-finite pixel(s)")):
        if count:
            notes.append(f"{count} {what} masked")
    row["morph_error"] = "; ".join(notes)
    if not finite.all():
        row["flag"] = max(int(row["flag"]), 1)
    return row


def _measure_chunk(images: np.ndarray, segmaps: np.ndarray, sigmas: list[float | None],
                   psfs: list[np.ndarray | None], fills: np.ndarray | None = None) -> list[dict[str, Any]]:
    return [measure_stamp(images[i], segmaps[i], noise_sigma=sigmas[i], psf=psfs[i],
                          fill=None if fills is None else fills[i]) for i in range(len(images))]


def _chunk_args(stamps: Any, start: int, stop: int) -> tuple:
    var = stamps.meta.get("noise_variance")
    sig = [None] * (stop - start)
    if var is not None and len(np.asarray(var)) == len(stamps):
        v = np.asarray(var, dtype=float)[start:stop]
        sig = [float(np.sqrt(x)) if np.isfinite(x) and x > 0 else None for x in v]
    psfs = [None] * (stop - start) if stamps.psfs is None else [np.asarray(p) for p in stamps.psfs[start:stop]]
    fills = None if stamps.fillmask is None else np.asarray(stamps.fillmask[start:stop])
    return (np.asarray(stamps.images[start:stop]), np.asarray(stamps.segmaps[start:stop]), sig, psfs, fills)


def _to_table(ids: np.ndarray, rows: list[dict[str, Any]]) -> Any:
    from astropy.table import Table

    t = Table()
    t["id"] = np.asarray(ids)
    for c in MORPH_FLOAT_COLUMNS:
        t[c] = np.array([r[c] for r in rows], dtype=np.float64)
    t["flag"] = np.array([r["flag"] for r in rows], dtype=np.int16)
    t["flag_sersic"] = np.array([r["flag_sersic"] for r in rows], dtype=np.int16)
    t["morph_error"] = np.array([r["morph_error"] for r in rows], dtype=str)
    return t


def _write_cache(table: Any, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        table.write(tmp, format="ascii.ecsv", overwrite=True)
        os.replace(tmp, path)
    except OSError:     # a cache that cannot be written costs time next open, nothing else
        pass


def morphology_job(stamps: Any, *, workers: int | None = None, use_cache: bool = True,
                   cache_dir: str | os.PathLike | None = None, background: bool = False,
                   partial_every: float | None = None, cancel: Optional[CancelToken] = None) -> Job:
    """Measure every stamp (a job generator; returns an astropy Table ``id`` + :data:`MORPH_COLUMNS`).

    Parameters
    ----------
    stamps : StampSet
    workers : int, optional
        Processes (default: one per core; 1 runs in this process).
    use_cache : bool
        Read and write the per-data-set cache (:func:`cache_path`).
    cache_dir : path, optional
        Cache folder (default :func:`default_cache_dir`).
    background : bool
        For an app: measure in child processes even with one worker (statmorph is pure Python; in a thread
        of the window's process it takes the interpreter lock from the window) at lower CPU priority
        (:func:`~candels_gui.core.parallel.lower_priority`).
    partial_every : float, optional
        Seconds between progress reports that carry the table so far (``Progress.partial``; rows not measured
        yet have NaN diagnostics and ``flag`` :data:`PENDING_FLAG`), so an app can show the galaxies measured
        first; ``None`` (default): none.
    cancel : CancelToken, optional
        Stops between stamps; the pool is shut down and nothing is cached.
    """
    n = len(stamps)
    if use_cache:
        cached = read_cached(stamps, cache_dir)
        if cached is not None:
            yield Progress(n, n, "statmorph (cached)")
            return cached
    workers = int(workers or os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    rows: list[dict[str, Any] | None] = [None] * n
    bounds = [(s, min(n, s + _CHUNK)) for s in range(0, n, _CHUNK)]
    done = 0
    ids = np.asarray(stamps.ids)
    last_partial = float("-inf")

    def report() -> Progress:
        nonlocal last_partial
        now = time.monotonic()
        if partial_every is None or done == n or now - last_partial < partial_every:
            return Progress(done, n, "statmorph")
        last_partial = now
        return Progress(done, n, "statmorph", partial=_partial_table(ids, rows))

    if not background and (workers == 1 or n <= _CHUNK):
        for s, e in bounds:
            check_cancel(cancel)
            rows[s:e] = _measure_chunk(*_chunk_args(stamps, s, e))
            done += e - s
            yield report()
    else:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

        from ..parallel import lower_priority, stop_process_pool

        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=lower_priority if background else None)
        pending: dict[Future, tuple[int, int]] = {}
        queue = list(bounds)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:   # a bounded number of chunks in flight
                    s, e = queue.pop(0)
                    pending[pool.submit(_measure_chunk, *_chunk_args(stamps, s, e))] = (s, e)
                finished, _ = wait(list(pending), timeout=0.25, return_when=FIRST_COMPLETED)
                check_cancel(cancel)
                for fut in finished:
                    s, e = pending.pop(fut)
                    rows[s:e] = fut.result()
                    done += e - s
                if finished:
                    yield report()
        except BaseException:   # cancelled or failed: the chunks still running stop too
            stop_process_pool(pool)
            raise
        pool.shutdown(wait=True)
    table = _to_table(ids, [r for r in rows if r is not None])
    if use_cache:
        _write_cache(table, cache_path(stamps, cache_dir))
    return table
