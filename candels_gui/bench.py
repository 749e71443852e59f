"""``candels-gui bench``: the single source of performance figures (keys in DESIGN.md).

Each group measures some keys; a figure not measured in a run is left out, never faked. Groups that
need a separate process (peak memory of ``produce``, app start-up) run one.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .bench_pipeline import bench_pipeline, run_timed

__all__ = ["run_bench", "GROUPS"]

Log = Callable[[str], None] | None


def _stamps():
    from .core.data.load import load_stampset
    from .paths import sample_data_dir

    return load_stampset(sample_data_dir())


def _engine_rate(engine, specs, batch_size: int | None = None) -> float:
    t0 = time.perf_counter()
    for _ in engine.iter_batches(specs, batch_size=batch_size, reuse_buffers=True):
        pass  # batches are rendered into reused buffers; nothing is kept
    return len(specs) / (time.perf_counter() - t0)


def bench_engine(n: int, log: Log) -> dict[str, Any]:
    """In-memory blends/s (128x128, blend + masks + isolated images): integer shifts, then sub-pixel + rotation,
    streamed as a consumer gets them (``iter_batches`` into one reused buffer of the engine's default batch size,
    ``engine_batch_size``), and the same in batches of 256 (``*_batch256``: outputs that leave the CPU's caches)."""
    from .core.blending.engine import BlendEngine
    from .core.blending.sampling import SamplingRules, sample_specs

    stamps = _stamps()
    engine = BlendEngine(stamps)
    t0 = time.perf_counter()
    for i in range(len(stamps)):
        engine.cache.get(i, 42)
    clean_ms = (time.perf_counter() - t0) / len(stamps) * 1e3
    integer = sample_specs(stamps, n, SamplingRules(), seed=42)
    sub = sample_specs(stamps, n, SamplingRules(uniform_area=True, subpixel=True, random_rotation=True),
                       seed=42)
    rates: dict[str, list[float]] = {}
    for _ in range(3):  # best of three: the figure is the engine's, not the machine's noise
        for batch, suffix in ((None, ""), (256, "_batch256")):
            rates.setdefault(f"engine_blends_per_s{suffix}", []).append(_engine_rate(engine, integer, batch))
            rates.setdefault(f"engine_subpixel_blends_per_s{suffix}", []).append(_engine_rate(engine, sub, batch))
    out: dict[str, Any] = {key: round(max(values)) for key, values in rates.items()}
    out.update(engine_batch_size=engine.stream_batch_size(), engine_clean_ms_per_galaxy=round(clean_ms, 2),
               engine_n=n)
    if log:
        log(f"engine: {out}")
    return out


def _hdf5_child(n: int, outdir: str) -> dict[str, Any]:
    from .core.jobs import run_job
    from .core.store.produce import ProduceOptions, produce

    stamps = _stamps()
    t0 = time.perf_counter()
    run_job(produce(stamps, outdir, ProduceOptions(n_blends=n, test_ratio=0.2, seed=42, storage="arrays")))
    dt = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in Path(outdir).rglob("*") if p.is_file())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"hdf5_write_blends_per_s": round(n / dt), "hdf5_write_mb_per_s": round(size / 1e6 / dt),
            "peak_rss_mb": round(peak)}


def bench_hdf5(n: int, log: Log) -> dict[str, Any]:
    """produce -> HDF5 with every array stored (cuts, draws, cleaning, render, write), in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
        code = ("import json,sys; from candels_gui.bench import _hdf5_child; "
                f"print(json.dumps(_hdf5_child({n}, sys.argv[1])))")
        res = subprocess.run([sys.executable, "-c", code, os.path.join(tmp, "out")], capture_output=True,
                             text=True, check=True, cwd=str(Path(__file__).resolve().parents[1]))
        out = json.loads(res.stdout.strip().splitlines()[-1])
    if log:
        log(f"hdf5: {out}")
    return out


def _command_seconds(args: list[str], cwd: str) -> float:
    """Wall seconds of ``candels-gui ARGS``, process start to exit (:func:`~.bench_pipeline.run_timed`)."""
    return run_timed([sys.executable, "-m", "candels_gui.cli", *args], cwd)[0]


def bench_produce_command(n: int, log: Log) -> dict[str, Any]:
    """The whole ``candels-gui produce -n N`` command, process start to exit (interpreter start-up,
    imports, reading the sample data, cuts, draws, writing, manifest): the default compact storage
    (median of three runs) and ``--storage arrays`` (one run)."""
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
        def run(storage: str, k: int) -> float:
            return _command_seconds(["produce", "-n", str(n), "--storage", storage, "--force",
                                     "-o", os.path.join(tmp, f"{storage}{k}")], root)

        compact = sorted(run("compact", k) for k in range(3))[1]
        arrays = run("arrays", 0)
    out = {"produce_command_blends_per_s": round(n / compact),
           "produce_command_arrays_blends_per_s": round(n / arrays), "produce_command_n": n}
    if log:
        log(f"produce command: {out}")
    return out


#: Deblenders of ``bench --only dask``: two classical ones and a network.
DASK_DEBLENDERS = ("sep", "photutils", "unet-seg")


def bench_dask(n: int, log: Log) -> dict[str, Any]:
    """Scale-out on Dask, on this machine: ``produce --storage arrays --format zarr`` (N = n // 2 blends) and
    ``evaluate`` (1,024 blends, each of :data:`DASK_DEBLENDERS`) in one plain process, on ``local:1`` and on
    ``local:2``; blends/s (best of two runs), the speed-up of 2 workers over 1 and the overhead of ``local:1`` over the plain run.

    Every process computes on one thread (Dask's workers run so; torch is set to one thread for the plain
    runs too, so the overhead compares like with like). The plain process and each cluster first make the
    same untimed small run (256 blends produced, 32 evaluated by each deblender: imports, the stamps read
    and each model loaded once per worker) before the timed runs: the rates are the steady state that
    scales to many blends, and ``dask_start_s`` is what starting and warming up a cluster took.
    ``dask_control_speedup_2_over_1`` is the speed-up of a task that only computes, measured in the same
    run: what the machine allowed (on a shared machine, other work caps every speed-up).
    """
    import shutil

    try:
        import distributed  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        if log:
            log("dask: skipped (pip install 'candels-gui[dask]' for dask.distributed and zarr)")
        return {}
    from .core.jobs import run_job
    from .core.parallel import open_client, run_partitions
    from .core.store.distributed import produce_partitioned
    from .core.store.produce import ProduceOptions, produce
    from .deblend import get
    from .evaluation import evaluate
    from .evaluation.distributed import evaluate_partitioned
    from .paths import sample_data_dir

    n_prod, n_eval = max(1024, n // 2), 1024
    stamps, data = _stamps(), sample_data_dir()
    opts = ProduceOptions(n_blends=n_prod, storage="arrays")
    rates: dict[str, dict[str, float]] = {"produce_zarr": {}, **{d: {} for d in DASK_DEBLENDERS}}
    start: dict[str, float] = {}
    control: dict[str, float] = {}
    threads = _torch_threads(1)
    with tempfile.TemporaryDirectory(prefix="candels-bench-dask-") as tmp:
        ev = os.path.join(tmp, "eval")
        run_job(produce(stamps, ev, ProduceOptions(n_blends=n_eval, test_ratio=0.0, storage="arrays")))

        def produce_rate(client: Any, options: ProduceOptions = opts) -> float:
            out = os.path.join(tmp, "p")
            os.sync()
            t0 = time.perf_counter()
            run_job(produce_partitioned(stamps, out, options, client=client, data_path=data))
            dt = time.perf_counter() - t0
            shutil.rmtree(out)
            return round(options.n_blends / dt, 1)

        def evaluate_rate(client: Any, name: str, limit: int | None = None) -> float:
            """Blends/s of ``evaluate``: the plain one-process function with ``client`` None."""
            os.sync()   # no earlier step's writes still going to the disk
            t0 = time.perf_counter()
            if client is None:
                run_job(evaluate(ev, [get(name)], split="train", batch_size=16, limit=limit))
            else:
                run_job(evaluate_partitioned(ev, name, client=client, split="train", batch_size=16, limit=limit))
            return round((limit or n_eval) / (time.perf_counter() - t0), 2)

        def warm_up(client: Any) -> None:
            """The same first, untimed run in the plain process and on a cluster: imports, data, models."""
            produce_rate(client, ProduceOptions(n_blends=256, storage="arrays"))
            for name in DASK_DEBLENDERS:
                evaluate_rate(client, name, limit=32)

        def measure(key: str, client: Any, plain: bool) -> None:
            """Best of two runs of each figure; with ``plain``, the plain process's runs alternate with the
            cluster's, so both see the same moments of a shared machine."""
            for _ in range(2):
                for what in ("produce_zarr", *DASK_DEBLENDERS):
                    for who, c in (("plain", None), (key, client)) if plain else ((key, client),):
                        rate = produce_rate(c) if what == "produce_zarr" else evaluate_rate(c, what)
                        rates[what][who] = max(rate, rates[what].get(who, 0.0))

        try:
            warm_up(None)
            for workers in (1, 2):
                key = f"local:{workers}"
                t0 = time.perf_counter()
                with open_client(key) as client:
                    client.run(_torch_threads, 1)
                    for name in DASK_DEBLENDERS:     # every worker loads each model (and reads the data) once
                        client.run(_warm_up, ev, name)
                    warm_up(client)
                    start[key] = round(time.perf_counter() - t0, 2)
                    t0 = time.perf_counter()
                    run_job(run_partitions(client, _spin, [(60,)] * 8))
                    control[key] = time.perf_counter() - t0
                    measure(key, client, plain=workers == 1)
                if log:
                    log(f"dask {key}: {({k: v.get(key) for k, v in rates.items()})}")
        finally:
            _torch_threads(threads)
    out: dict[str, Any] = {
        "dask_produce_zarr_blends_per_s": rates["produce_zarr"],
        "dask_evaluate_blends_per_s": {d: rates[d] for d in DASK_DEBLENDERS},
        "dask_speedup_2_over_1": {k: round(v["local:2"] / v["local:1"], 2) for k, v in rates.items()},
        "dask_overhead_local1": {k: round(v["plain"] / v["local:1"] - 1, 3) for k, v in rates.items()},
        "dask_start_s": start, "dask_n": {"produce": n_prod, "evaluate": n_eval},
        "dask_control_speedup_2_over_1": round(control["local:1"] / control["local:2"], 2),
        "dask_load_average": round(os.getloadavg()[0], 1)}
    if log:
        log(f"dask: {out}")
    return out


def _spin(n: int) -> int:
    """A task that only computes (n products of 200x200 matrices, one thread): the speed-up the machine
    allows at that moment, against which the others read (other work on a shared machine caps it)."""
    import numpy as np

    a = np.random.default_rng(0).random((200, 200))
    for _ in range(int(n)):
        a = (a @ a) / 200.0
    return 0


def _torch_threads(n: int) -> int | None:
    """Set torch's intra-op threads to ``n`` (when torch is installed); returns the previous count."""
    try:
        import torch
    except ImportError:
        return None
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    return before


def _warm_up(export: str, name: str) -> None:
    """On a worker: build deblender ``name`` (kept for the worker's later tasks) and run it on 4 blends."""
    from .core.jobs import run_job
    from .core.store.sources import open_split
    from .deblend.distributed import DeblenderRecipe

    deblender = DeblenderRecipe(name).build()
    images, _, _ = open_split(export, "train").rows(slice(0, 4), isolated=False)
    run_job(deblender.iter_run(images, 4))


def bench_morphology(n: int, log: Log) -> dict[str, Any]:
    """Morphology: the CNN's stamps/s (inputs prepared from the stamps + network, batches of 256, best of 3)
    and statmorph's stamps/s on every core (48 sample stamps, process start-up included, no cache)."""
    import numpy as np

    from .core.jobs import run_job
    from .core.measure.morphology import morphology_job

    stamps = _stamps()
    out: dict[str, Any] = {}
    try:
        from .morphology.classifier import MorphClassifier

        clf = MorphClassifier.load()
    except Exception as exc:  # no torch or no shipped weights: the figure is left out
        if log:
            log(f"morphology: classify not measured ({exc})")
    else:
        reps = -(-min(n, 4096) // len(stamps))
        images = np.concatenate([np.asarray(stamps.images)] * reps)[:min(n, 4096)]
        segmaps = np.concatenate([np.asarray(stamps.segmaps)] * reps)[:len(images)]
        clf.predict(images[:256], segmaps[:256])            # warm-up
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            for s in range(0, len(images), 256):
                clf.predict(images[s:s + 256], segmaps[s:s + 256])
            rates.append(len(images) / (time.perf_counter() - t0))
        out.update(classify_stamps_per_s=round(max(rates)), classify_device=clf.device_name,
                   classify_n=len(images))
    k = min(48, len(stamps))
    workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    run_job(morphology_job(stamps.subset(slice(0, k)), workers=workers, use_cache=False))
    out.update(statmorph_stamps_per_s=round(k / (time.perf_counter() - t0), 2), statmorph_workers=workers,
               statmorph_n=k)
    if log:
        log(f"morphology: {out}")
    return out


def _fields_child(model: str, size: int, out: str) -> dict[str, Any]:
    """Generate a ``size``-square field with the SGAN in ``model`` (in a fresh process: its peak RSS is the
    generation's)."""
    from .core.jobs import run_job
    from .fields.generate import generate_field_job

    res = run_job(generate_field_job(model, out, size, seed=0, overwrite=True))
    return {"field_generate_mpix_per_s": round(res["mpix_per_s"], 3),
            "field_generate_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
            "field_generate_device": res["device"], "field_generate_size": size, "field_generate_tile": res["tile"]}


def _tile_field(src: str, out: str, times: int) -> None:
    """A field ``times`` x ``times`` larger made of copies of ``src`` (for the Field tab's frame time)."""
    import numpy as np

    from .core.data.field_fits import FieldWriter, read_field

    f = read_field(src)
    h, w = f.shape
    with FieldWriter(out, (h * times, w * times), f.header) as writer:
        for r in range(0, h, 1024):
            strip = np.asarray(f.data[r:r + 1024], np.float32)
            for i in range(times):
                for j in range(times):
                    writer.write(strip, i * h + r, j * w)


def bench_fields(n: int, log: Log) -> dict[str, Any]:
    """Deep fields: the shipped SGAN generating a 4,096² field tile by tile (Mpix/s, the process's peak RSS, the
    device), then the Field tab's frame times on a 16,384² field (that field tiled 4 x 4), each in a fresh
    process."""
    from .paths import models_dir

    model = models_dir() / "sgan-sim.pt"
    if not model.is_file():
        raise FileNotFoundError(f"bench fields needs the shipped SGAN {model}")
    root = str(Path(__file__).resolve().parents[1])
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
        field = os.path.join(tmp, "field4096.fits")
        code = ("import json,sys; from candels_gui.bench import _fields_child; "
                "print(json.dumps(_fields_child(sys.argv[1], 4096, sys.argv[2])))")
        res = subprocess.run([sys.executable, "-c", code, str(model), field], capture_output=True, text=True,
                             check=True, cwd=root)
        out.update(json.loads(res.stdout.strip().splitlines()[-1]))
        if log:
            log(f"fields: {out}")
        try:
            import PyQt6  # noqa: F401
        except ImportError:
            return out
        big = os.path.join(tmp, "field16384.fits")
        _tile_field(field, big, 4)
        os.remove(field)
        code = ("import json,sys; from candels_gui.gui.bench_field import field_frame_times; "
                "print(json.dumps(field_frame_times(sys.argv[1])))")
        res = subprocess.run([sys.executable, "-c", code, big], capture_output=True, text=True, check=True, cwd=root)
        frames = json.loads(res.stdout.strip().splitlines()[-1])
        out.update(frames)
        if log:
            log(f"field view: {frames}")
    return out


GROUPS: dict[str, Callable[[int, Log], dict[str, Any]]] = {
    "engine": bench_engine,
    "hdf5": bench_hdf5,
    "produce_command": bench_produce_command,
    "pipeline": bench_pipeline,
    "dask": bench_dask,
    "morphology": bench_morphology,
    "fields": bench_fields,
}


def register(name: str, func: Callable[[int, Log], dict[str, Any]]) -> None:
    """Add a benchmark group (used by the GUI and deblend packages)."""
    GROUPS[name] = func


def _load_optional_groups() -> None:
    for module in ("candels_gui.gui.bench_gui", "candels_gui.deblend.bench_models"):
        try:
            __import__(module)
        except ImportError:
            continue


def run_bench(n: int = 10_000, groups: list[str] | None = None, log: Log = None) -> dict[str, Any]:
    """Run benchmark groups and return one dict of figures.

    Parameters
    ----------
    n : int
        Blends per engine / HDF5 figure (DESIGN: 10,000).
    groups : list of str, optional
        Which groups to run (default: all registered).
    log : callable, optional
        Receives a line per finished group.
    """
    _load_optional_groups()
    names = groups or list(GROUPS)
    unknown = [g for g in names if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown bench group(s) {unknown}; available: {list(GROUPS)}")
    result: dict[str, Any] = {}
    for name in names:
        result.update(GROUPS[name](n, log))
    return result
