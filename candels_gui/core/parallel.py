"""Long work split into partitions, run in this process or on a Dask cluster (``--scheduler``).

Every blend is a pure function of its spec and the data, so the blends of a long command (``produce``,
``concatenate``, ``deblend``, ``evaluate``) split into *partitions* (contiguous row ranges) that any worker
can compute, each written to its own rows of the output or returned to the client, which puts them in
order: the result is the same bytes whatever the number of workers and wherever they run.

This module holds what every such command shares, and nothing of its own making: the cluster is
:mod:`dask.distributed` (a scheduler and workers, started by hand, by dask-jobqueue or by a
``LocalCluster``), imported only when a command is given ``--scheduler``:

* :func:`parse_scheduler` reads ``--scheduler`` (``local:N`` or ``tcp://HOST:PORT``);
* :func:`open_client` starts a ``LocalCluster`` or joins a running scheduler (a clear one-line
  :class:`~candels_gui.core.errors.DataError` when it cannot be reached within a timeout) and closes
  what it started;
* :func:`partition_ranges` cuts N rows into partitions;
* :func:`run_partitions` submits one task per partition and yields progress as tasks finish (a job
  generator), cancelling every future on an error, on :class:`~candels_gui.core.errors.Cancelled` and on
  Ctrl-C; with ``client=None`` it runs the same tasks here, one after the other;
* :func:`worker_cached`: what a worker process builds once and keeps (a StampSet read from its path, a
  deblender's weights), not once per task.

Examples
--------
>>> parse_scheduler("local:4")
('local', 4)
>>> partition_ranges(10, 4)
[(0, 4), (4, 8), (8, 10)]
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterator, Sequence

from .errors import DataError
from .jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["DEFAULT_PARTITION_SIZE", "CONNECT_TIMEOUT_S", "parse_scheduler", "open_client",
           "partition_ranges", "run_partitions", "worker_cached", "clear_worker_cache", "worker_cache_builds",
           "n_workers", "aligned_partition_size", "stop_process_pool"]

#: Blends per task when ``--partition-size`` is not given: large enough that the scheduler's overhead
#: (a few ms a task) is noise, small enough that a task's arrays (224 kB a 128 px blend) stay ~60 MB and
#: the progress bar moves.
DEFAULT_PARTITION_SIZE = 256
#: Seconds to wait for a scheduler (and for its first worker) before giving up.
CONNECT_TIMEOUT_S = 10.0
#: Most ``local:N`` workers per core (more only compete for the cores, each with its memory).
MAX_WORKERS_PER_CORE = 4
# tls/wss need certificates (a security object) and ucx its own package: not reachable from the command line
_PROTOCOLS = ("tcp", "ws")
_ADDRESS = re.compile(r"^(?P<proto>[a-z]+)://(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def parse_scheduler(text: str) -> tuple[str, Any]:
    """Read a ``--scheduler`` value: ``("local", n_workers)`` or ``("remote", address)``.

    ``local:N`` starts N worker processes on this machine for the run (at most
    :data:`MAX_WORKERS_PER_CORE` per core); ``tcp://HOST:PORT`` (or ``ws://``) joins a running Dask scheduler.

    Raises
    ------
    ValueError
        For anything else, naming the option and the two accepted forms.
    """
    value = str(text).strip()
    if value.startswith("local:"):
        count = value[len("local:"):]
        if count.isdigit() and int(count) >= 1:
            cores = os.cpu_count() or 1
            if int(count) > MAX_WORKERS_PER_CORE * cores:
                most = MAX_WORKERS_PER_CORE * cores
                raise ValueError(f"--scheduler {text!r}: {count} worker processes on this machine's {cores} "
                                 f"core(s) would only compete for them; give at most local:{most} "
                                 f"(local:{cores}: one per core)")
            return "local", int(count)
        raise ValueError(f"--scheduler {text!r}: local:N needs a number of workers N >= 1 (e.g. local:4)")
    m = _ADDRESS.match(value)
    if m and m["proto"] in _PROTOCOLS and 0 < int(m["port"]) < 65536:
        return "remote", value
    raise ValueError(f"--scheduler {text!r}: give local:N (N worker processes on this machine) or the "
                     f"address of a running Dask scheduler, tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DataError("--scheduler needs Dask: pip install 'candels-gui[dask]' (dask.distributed and "
                        "zarr)") from None
    return distributed


@contextlib.contextmanager
def open_client(scheduler: str, *, timeout: float | None = None,
                threads_per_worker: int = 1) -> Iterator[Any]:
    """A :class:`distributed.Client` on ``scheduler`` (:func:`parse_scheduler`), closed on exit.

    ``local:N`` starts a ``LocalCluster`` of N worker processes (``threads_per_worker`` threads each, no
    dashboard) and stops it on exit, workers included. A remote scheduler is joined, and left running.
    ``timeout`` defaults to :data:`CONNECT_TIMEOUT_S`.

    Raises
    ------
    DataError
        When the scheduler cannot be reached within ``timeout`` seconds, when it has no worker after
        as long, or when a worker cannot import this package at this version.
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else float(timeout)
    kind, value = parse_scheduler(scheduler)
    distributed = _import_distributed()
    cluster = None
    client = None
    try:
        if kind == "local":
            import dask

            # the workers' statistical profiler (a stack sample every 10 ms) made SEP and photutils
            # 1.6x slower in a worker than in a plain process; a LocalCluster has no dashboard to show it.
            # One malloc arena: a task's thread otherwise allocates from a per-thread arena, whose heaps
            # are unmapped whenever they fall empty, so every large temporary (SEP's 10 MB pixel stack,
            # twice a blend) is mapped and page-faulted anew: 2.6 million page faults and 4.6 s of system
            # time per 512 blends evaluated by SEP, against 26 thousand and 0.09 s in a plain process
            with dask.config.set({"distributed.worker.profile.enabled": False,
                                  "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": 1}), \
                    _workers_ignore_sigint():
                cluster = distributed.LocalCluster(n_workers=value, threads_per_worker=int(threads_per_worker),
                                                   processes=True, dashboard_address=None,
                                                   worker_dashboard_address=None, silence_logs=50,
                                                   # no dashboard; its HTTP server (health checks) on any free
                                                   # loopback port, not 8787 (two runs at once would clash)
                                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = distributed.Client(cluster, set_as_default=False)
        else:
            try:
                client = distributed.Client(value, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, TypeError, ValueError) as exc:
                raise DataError(f"--scheduler {value}: cannot reach a Dask scheduler there within "
                                f"{timeout:g} s ({type(exc).__name__}); start one with 'dask scheduler' "
                                f"and workers with 'dask worker {value}'") from None
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError):
                raise DataError(f"--scheduler {value}: the scheduler has no worker after {timeout:g} s; "
                                f"start some with 'dask worker {value}'") from None
            _check_workers(client, value)
        yield client
    finally:
        # a local cluster stopped mid-run (Ctrl-C) has its scheduler, in this process, log at CRITICAL every
        # result it can no longer send to the closed client: chatter, not news, once the run is over
        with _shutdown_quiet() if cluster is not None else contextlib.nullcontext():
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=timeout)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=timeout)


@contextlib.contextmanager
def _shutdown_quiet() -> Iterator[None]:
    """The ``distributed`` loggers above CRITICAL while a local cluster shuts down, then as they were."""
    import logging

    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """While a ``LocalCluster`` starts its worker processes: SIGINT ignored, a disposition they inherit.

    A terminal's Ctrl-C goes to the whole process group: the workers printed a KeyboardInterrupt traceback
    each while this process, which stops them itself, was already saying what it kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: The modules whose functions the tasks are: the scheduler unpickles them, the workers run them.
_TASK_MODULES = ("candels_gui.core.store.distributed", "candels_gui.deblend.distributed",
                 "candels_gui.deblend.results_zarr", "candels_gui.evaluation.distributed")


def _worker_version() -> str:
    """Run on the scheduler and on each worker: the version of this package there (an error when the
    modules of the tasks cannot be imported there)."""
    import importlib

    from .. import __version__

    for name in _TASK_MODULES:
        importlib.import_module(name)
    return __version__


def _check_workers(client: Any, where: str) -> None:
    """The scheduler and every worker import this package at the client's version, or a DataError naming
    the one that does not."""
    from .. import __version__

    def check(who: str, version: Any) -> None:
        if isinstance(version, BaseException):
            raise DataError(f"--scheduler {where}: {who} cannot run this candels-gui ({version!r}); install the "
                            f"client's candels-gui in the Python environment of the scheduler and of every worker")
        if version != __version__:
            raise DataError(f"--scheduler {where}: {who} runs candels-gui {version}, this client {__version__}; "
                            f"install the same version for the scheduler and every worker")

    try:
        check("the scheduler", client.run_on_scheduler(_worker_version))
    except DataError:
        raise
    except Exception as exc:      # the scheduler could not even unpickle the check
        check("the scheduler", exc)
    for worker, version in client.run(_worker_version, on_error="return").items():
        check(f"worker {worker}", version)


def n_workers(client: Any | None) -> int:
    """Number of workers of ``client``'s cluster (1 for ``None``: this process)."""
    if client is None:
        return 1
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def partition_ranges(n: int, size: int, *, start: int = 0) -> list[tuple[int, int]]:
    """``[(a, b), ...]``: rows ``start .. start + n`` in partitions of ``size`` (the last one shorter).

    Raises
    ------
    ValueError
        When ``size`` < 1.
    """
    if int(size) < 1:
        raise ValueError(f"--partition-size must be >= 1, got {size}")
    return [(start + a, start + min(n, a + int(size))) for a in range(0, int(n), int(size))]


def aligned_partition_size(n: int, batch_size: int, workers: int, partition_size: int | None, *,
                           least: int | None = None, most: int = 512) -> int:
    """Rows per task for work done ``batch_size`` at a time: ``partition_size`` rounded up to whole batches, or by
    default enough tasks for about four per worker, from ``least`` (default: one batch) to ``most`` rows. Whole
    batches keep every batch as it is in one process, so the results are the same numbers."""
    step = int(batch_size)
    if partition_size is None:
        target = max(step if least is None else int(least), min(int(most), math.ceil(n / (4 * max(1, workers)))))
    else:
        target = int(partition_size)
        partition_ranges(1, target)     # refuses a size < 1
    return step * math.ceil(target / step)


def run_partitions(client: Any | None, func: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *,
                   sizes: Sequence[int] | None = None, on_result: Callable[[int, Any], None] | None = None,
                   ordered: bool = False, message: str = "", total: int | None = None, done: int = 0,
                   key: str = "partition", max_in_flight: int | None = None,
                   cancel: CancelToken | None = None) -> Job:
    """Job: run ``func(*task)`` for every task, here (``client=None``) or on ``client``'s cluster.

    Tasks are submitted to the scheduler (``max_in_flight`` at a time when given: a client that gathers
    large results then holds only so many), and the progress follows the tasks that finish, in whatever
    order they finish. A worker that dies loses only its running tasks: the scheduler runs them again
    elsewhere. On an error, on ``cancel`` and on Ctrl-C every future still pending is cancelled before
    the exception goes on.

    Parameters
    ----------
    client : distributed.Client or None
    func : callable
        A module-level function (workers import it by name).
    tasks : sequence of tuples
        The arguments of each call.
    sizes : sequence of int, optional
        Units (blends) of each task, for the progress (default 1 each).
    on_result : callable, optional
        ``on_result(task_index, result)`` on this process, as each task finishes (any order), or in the
        order of ``tasks`` with ``ordered`` (results that finish early wait; with ``max_in_flight`` at
        most that many do).
    message, total, done
        Progress message; total units (default ``sum(sizes) + done``); units done already (resumed work).
    key : str
        Prefix of the tasks' names on the scheduler (its dashboard shows them).
    cancel : CancelToken, optional

    Returns
    -------
    list
        The results, in the order of ``tasks`` (``None`` each when ``on_result`` takes them).
    """
    sizes = [1] * len(tasks) if sizes is None else [int(s) for s in sizes]
    if len(sizes) != len(tasks):
        raise ValueError(f"{len(tasks)} tasks but {len(sizes)} sizes")
    total = done + sum(sizes) if total is None else int(total)
    results: list[Any] = [None] * len(tasks)
    yield Progress(done, total, message)
    if client is None:
        for i, args in enumerate(tasks):
            check_cancel(cancel)
            value = func(*args)
            if on_result is not None:
                on_result(i, value)
            else:
                results[i] = value
            done += sizes[i]
            yield Progress(done, total, message)
        return results
    distributed = _import_distributed()
    token = f"{key}-{_unique()}"
    futures: dict[Any, int] = {}
    queue = list(range(len(tasks)))[::-1]
    limit = len(tasks) if not max_in_flight else max(1, int(max_in_flight))

    def submit() -> None:
        while queue and len(futures) + len(waiting) < limit:
            i = queue.pop()
            fut = client.submit(_on_worker, func, *tasks[i], key=f"{token}-{i}", pure=False)
            futures[fut] = i
            pending.add(fut)

    pending = distributed.as_completed([], loop=client.loop)
    waiting: dict[int, Any] = {}
    next_i = 0
    try:
        submit()
        while futures:
            check_cancel(cancel)
            finished = pending.next_batch(block=False) if pending.has_ready() else []
            if not finished:
                time.sleep(0.05)
                continue
            for fut in finished:
                i = futures.pop(fut)
                value = fut.result()      # the task's own exception, re-raised here
                fut.release()
                done += sizes[i]
                if on_result is not None and ordered:
                    waiting[i] = value
                    while next_i in waiting:
                        on_result(next_i, waiting.pop(next_i))
                        next_i += 1
                elif on_result is not None:
                    on_result(i, value)
                else:
                    results[i] = value
            submit()
            yield Progress(done, total, message)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        raise
    return results


def _on_worker(func: Callable[..., Any], *args: Any) -> Any:
    """A task: ``func(*args)`` in a worker process whose allocator is set as a plain process's first.

    A worker's blend engines render on the task's own thread (``CANDELS_GUI_RENDER_THREADS=1`` unless the
    worker's environment says otherwise): on a cluster the workers are the parallelism."""
    _tune_malloc()
    os.environ.setdefault("CANDELS_GUI_RENDER_THREADS", "1")
    return func(*args)


_MALLOC_TUNED = False


def _tune_malloc() -> None:
    """Undo, in this process, what ``MALLOC_TRIM_THRESHOLD_`` does to glibc's allocator.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's mmap
    threshold at 128 kB: every array of a 128 px stamp in float64 (131 kB) is then mapped and unmapped
    from the kernel, and SEP, photutils and the shape measurements run 4 to 6 times slower than in a
    plain process. The thresholds are set to the largest values glibc's own dynamic rule reaches (mmap
    32 MB, trim 64 MB). Once per process; a no-op off glibc.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.mallopt(-3, 32 << 20)    # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)    # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _unique() -> str:
    import secrets

    return secrets.token_hex(4)


#: Nice increment of an app's background processes (:func:`lower_priority`).
BACKGROUND_NICE = 10


def lower_priority(increment: int = BACKGROUND_NICE) -> None:
    """Lower this process's CPU priority by ``increment`` (``os.nice``): the initializer of the child
    processes that an app starts for background work (the morphology classifier, statmorph), so that a
    window's thread gets the cores first while the user drags. A no-op where ``os.nice`` is missing."""
    try:
        os.nice(int(increment))
    except (AttributeError, OSError):
        pass


# --------------------------------------------------------------------------------- worker caches
_CACHE: "OrderedDict[Any, Any]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8
_BUILDS: dict[str, int] = {}


def stop_process_pool(pool: Any) -> None:
    """Stop a :class:`concurrent.futures.ProcessPoolExecutor` now: queued work is dropped and the worker processes
    are terminated, so work already running stops too (``shutdown(cancel_futures=True)`` alone lets it run to its
    end, the workers using the cores and the pool's threads the caller's interpreter meanwhile)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def worker_cached(key: Any, build: Callable[[], Any]) -> Any:
    """``build()`` once per process for ``key`` (hashable), then the same object: what a worker keeps
    between tasks (a StampSet read from its path, a deblender with its weights, an open store).

    The least recently used of more than 8 entries is dropped. In the client process (``--scheduler``
    not given) it caches the same way.
    """
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = build()
    with _CACHE_LOCK:
        _BUILDS[repr(key)] = _BUILDS.get(repr(key), 0) + 1
        _CACHE[key] = value
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def worker_cache_builds() -> dict[str, int]:
    """How many times this process built each cached object (``repr`` of its key -> count)."""
    with _CACHE_LOCK:
        return dict(_BUILDS)


def clear_worker_cache() -> None:
    """Drop everything :func:`worker_cached` holds in this process."""
    with _CACHE_LOCK:
        _CACHE.clear()

