"""Scale-out on Dask (``--scheduler``) and the Zarr store: the same bytes as one process.

The cluster tests run a LocalCluster of 2 worker processes on the loopback (no dashboard), shared by the
module and closed at its end; the killed-worker test starts its own. No worker outlives its cluster.
"""

from __future__ import annotations

import filecmp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("zarr")

from candels_gui.core.data.load import load_stampset  # noqa: E402
from candels_gui.core.errors import Cancelled, DataError, OptionError  # noqa: E402
from candels_gui.core.jobs import CancelToken, Progress, run_job  # noqa: E402
from candels_gui.core.parallel import open_client, parse_scheduler, partition_ranges  # noqa: E402
from candels_gui.core.store import distributed as dist  # noqa: E402
from candels_gui.core.store.concatenate import concatenate  # noqa: E402
from candels_gui.core.store.export import export_splits, read_export  # noqa: E402
from candels_gui.core.store.produce import ProduceOptions, produce  # noqa: E402
from candels_gui.core.store.zarr_store import done_partitions  # noqa: E402
from candels_gui.paths import sample_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_BLENDS = 240
OPTIONS = ProduceOptions(n_blends=N_BLENDS, storage="arrays", seed=7)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_pids(client) -> set[int]:
    """The worker processes (their nannies run in this process)."""
    return set(client.run(os.getpid).values())


def _wait_gone(pids: set[int], timeout: float = 20.0) -> set[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = {p for p in pids if _alive(p)}
        if not left:
            return left
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes for the module; its processes are gone after it."""
    with open_client("local:2") as c:
        pids = _worker_pids(c)
        yield c
    assert not _wait_gone(pids), "worker processes outlived their LocalCluster"


@pytest.fixture(scope="module")
def stamps():
    return load_stampset(sample_data_dir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, stamps):
    """The one-process run: produce with every array in blends.h5, then concatenate ogg_masks."""
    out = tmp_path_factory.mktemp("reference")
    run_job(produce(stamps, out, OPTIONS))
    return out


def _assert_same_export(a_path, b_path, *, csv: bool = True) -> None:
    assert export_splits(a_path) == export_splits(b_path)
    for split in export_splits(a_path):
        a, b = read_export(a_path, split=split), read_export(b_path, split=split)
        for key in ("images", "isolated", "masks", "fluxes", "flux_out_frac"):
            x, y = getattr(a, key), getattr(b, key)
            assert x.dtype == y.dtype and x.shape == y.shape, key
            assert np.array_equal(x, y), f"{split} {key} differ"
        assert a.specs == b.specs
        assert a.catalog.colnames == b.catalog.colnames
        for col in a.catalog.colnames:
            assert np.array_equal(np.asarray(a.catalog[col]), np.asarray(b.catalog[col])), col
        if csv:
            name = f"{split}_catalogue.csv"
            assert filecmp.cmp(Path(a_path) / name, Path(b_path) / name, shallow=False), name


# ------------------------------------------------------------------------------------ no cluster
def test_parse_scheduler():
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    too_many = f"local:{4 * (os.cpu_count() or 1) + 1}"     # more would only compete for the cores
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "http://host:8786", "tcp://host", "tcp://host:70000", "",
                "tls://host:8786", "ucx://host:8786", too_many):
        with pytest.raises(ValueError, match="--scheduler"):
            parse_scheduler(bad)
    assert partition_ranges(5, 2, start=10) == [(10, 12), (12, 14), (14, 15)]
    with pytest.raises(ValueError, match="partition-size"):
        partition_ranges(5, 0)


def test_plain_commands_import_no_dask(tmp_path):
    code = ("import sys; from candels_gui.cli import main; "
            f"rc = main(['produce', '-n', '30', '-o', {str(tmp_path / 'out')!r}]); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT))
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_outputs_of_earlier_runs_are_neither_destroyed_nor_left_stale(tmp_path, capsys):
    """--resume never replaces a finished export; --force removes the blends of the other format (the app and
    the readers would open them); a file:// URL is the local folder; deblend -o never deletes what is not its
    own results."""
    from candels_gui.cli import main

    def run(*argv: str) -> int:
        return main(list(argv))

    z = tmp_path / "z"
    assert run("produce", "-n", "60", "-s", "1", "--format", "zarr", "-o", f"file://{z}") == 0
    assert (z / "blends.zarr").is_dir() and not Path("file:").exists()
    before = (z / "manifest.json").read_bytes()
    assert run("produce", "-n", "60", "-s", "5", "--format", "zarr", "-o", str(z), "--resume") == 2
    assert "nothing to resume" in capsys.readouterr().err and (z / "manifest.json").read_bytes() == before
    notes = tmp_path / "notes.zarr"
    (notes / "sub").mkdir(parents=True)
    (notes / "sub" / "thesis.txt").write_text("keep me")
    for out in (notes, z / "blends.zarr", z / "blends.h5"):
        assert run("deblend", "--model", "sep", "--data", str(z), "-o", str(out)) == 2
    assert (notes / "sub" / "thesis.txt").read_text() == "keep me" and (z / "blends.zarr" / "zarr.json").is_file()
    results = tmp_path / "sep.zarr"
    assert run("deblend", "--model", "sep", "--data", str(z), "-o", str(results), "--resume") == 0   # fresh: runs
    assert run("deblend", "--model", "sep", "--data", str(z), "-o", str(results), "--resume") == 2   # finished
    assert "nothing to resume" in capsys.readouterr().err
    assert run("produce", "-n", "60", "-s", "5", "-o", str(z), "--force") == 0
    assert sorted(p.name for p in z.iterdir()) == ["blends.h5", "manifest.json", "test_catalogue.csv",
                                                   "train_catalogue.csv"]
    assert "removed blends.zarr" in capsys.readouterr().err


def test_ctrl_c_stops_local_workers_quietly(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the workers must not each print a traceback."""
    out = tmp_path / "z"
    proc = subprocess.Popen([sys.executable, "-m", "candels_gui.cli", "produce", "-n", "30000", "--format", "zarr",
                             "--scheduler", "local:2", "--partition-size", "64", "-o", str(out)],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(ROOT), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = out / ".blends.zarr.partial"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list(partial.glob("train/partitions_done/c/*")):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1]   # still running (not refused, say for disk space)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "kept in" in err and "only the unfinished" in err and partial.is_dir()


def test_unreachable_scheduler_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from candels_gui.cli import main
    from candels_gui.core import parallel

    with socket.socket() as s:      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(DataError, match="cannot reach a Dask scheduler"):
        with open_client(f"tcp://127.0.0.1:{port}", timeout=1):
            pass
    assert time.monotonic() - t0 < 30
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1.0)
    rc = main(["produce", "-n", "20", "--scheduler", f"tcp://127.0.0.1:{port}", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("candels-gui produce: error: --scheduler tcp://127.0.0.1:")
    assert not (tmp_path / "o" / "blends.h5").exists()


def test_zarr_round_trip_and_fsspec_url(tmp_path, stamps, reference):
    """produce --format zarr in one process (and to a file:// URL): read_export gives the HDF5 run's data."""
    out = tmp_path / "z"
    run_job(dist.produce_partitioned(stamps, out, OPTIONS, partition_size=100, data_path=sample_data_dir()))
    assert sorted(p.name for p in out.iterdir()) == ["blends.zarr", "manifest.json", "test_catalogue.csv",
                                                      "train_catalogue.csv"]
    _assert_same_export(reference, out)
    data = read_export(out / "blends.zarr", split="train")
    assert data.fmt == "zarr" and data.manifest["kind"] == "zarr"
    url = "file://" + str(tmp_path / "u")
    run_job(dist.produce_partitioned(stamps, url, OPTIONS, partition_size=64))
    _assert_same_export(reference, tmp_path / "u")


def test_compare_exports_finds_what_differs(tmp_path, stamps, reference):
    from candels_gui.core.store.sources import compare_exports

    compact = tmp_path / "compact"          # the same blends, rendered on read
    run_job(produce(stamps, compact, ProduceOptions(n_blends=N_BLENDS, seed=7)))
    assert compare_exports(reference, compact) == []
    other = tmp_path / "other"
    run_job(produce(stamps, other, ProduceOptions(n_blends=N_BLENDS, seed=8)))
    found = compare_exports(reference, other, limit=50)
    assert "train: specs differ" in found and any("blend images differ" in f for f in found)


def test_concatenate_reads_the_store_the_manifest_names(tmp_path, stamps):
    """A folder produced again in the other format (--force) holds both stores: the manifest's is read."""
    out = tmp_path / "both"
    run_job(produce(stamps, out, ProduceOptions(n_blends=50, seed=3)))
    run_job(dist.produce_partitioned(stamps, out, ProduceOptions(n_blends=80, seed=4, storage="arrays")))
    assert (out / "blends.h5").exists() and (out / "blends.zarr").exists()
    run_job(dist.concatenate_partitioned(out, "ogg_masks"))
    assert len(np.load(out / "train_images.npy")) == 64


def test_training_data_reads_a_zarr_store_as_its_hdf5(tmp_path, stamps, reference):
    from candels_gui.deblend.training_data import TrainingData

    out = tmp_path / "z"
    run_job(dist.produce_partitioned(stamps, out, OPTIONS, partition_size=100))
    idx = np.array([5, 3, 100, 7])
    for model in ("unet-seg", "unet-deblend", "blend2flux"):
        h5 = TrainingData(reference / "blends.h5", model, memory_mb=0)
        for store in (out, out / "blends.zarr"):
            z = TrainingData(store, model, memory_mb=0)
            assert z.n == h5.n and z.shape == h5.shape
            for a, b in zip(h5.batch(idx, with_flux=True), z.batch(idx, with_flux=True)):
                assert np.array_equal(a, b), model


def test_resume_computes_only_the_missing_partitions(tmp_path, stamps, reference, monkeypatch):
    out = tmp_path / "r"
    token = CancelToken()
    job = dist.produce_partitioned(stamps, out, OPTIONS, partition_size=40, data_path=sample_data_dir(),
                                   cancel=token)
    with pytest.raises(Cancelled):
        for p in job:
            if isinstance(p, Progress) and p.message.startswith("writing") and p.done >= 80:
                token.cancel()
    assert not (out / "blends.zarr").exists() and not (out / "manifest.json").exists()
    assert (out / ".blends.zarr.partial").is_dir()
    partial = str(out / ".blends.zarr.partial")
    n_done = sum(int(done_partitions(partial, split).sum()) for split in ("train", "test"))
    n_parts = len(partition_ranges(192, 40)) + len(partition_ranges(48, 40))   # 240 blends, test_ratio 0.2
    assert 2 <= n_done < n_parts
    with pytest.raises(DataError, match="unfinished store of a stopped produce.*--resume"):
        export_splits(out)                   # evaluate, train, concatenate: how to finish it, not 'no manifest'
    with pytest.raises(DataError, match="unfinished store of a stopped produce"):
        run_job(concatenate(out, "ogg_masks"))
    other_seed = ProduceOptions(n_blends=N_BLENDS, storage="arrays", seed=8)
    with pytest.raises(OptionError, match="started by another run"):   # resuming must not drop its partitions
        run_job(dist.produce_partitioned(stamps, out, other_seed, partition_size=40, data_path=sample_data_dir(),
                                         resume=True))
    assert sum(int(done_partitions(partial, split).sum()) for split in ("train", "test")) == n_done
    calls = []
    real = dist.write_zarr_partition
    monkeypatch.setattr(dist, "write_zarr_partition", lambda *a: calls.append(a[5:7]) or real(*a))
    run_job(dist.produce_partitioned(stamps, out, OPTIONS, partition_size=40, data_path=sample_data_dir(),
                                     resume=True))
    assert len(calls) == n_parts - n_done
    assert not (out / ".blends.zarr.partial").exists()
    _assert_same_export(reference, out)


# --------------------------------------------------------------------------------- on a cluster
def _worker_environment() -> dict:
    import os

    return {k: os.environ.get(k) for k in ("MALLOC_ARENA_MAX", "CANDELS_GUI_RENDER_THREADS")}


def test_local_workers_allocate_from_one_arena_and_render_on_their_task_thread(client):
    """A local:N worker runs with MALLOC_ARENA_MAX=1 (no per-thread arena whose heaps are unmapped and
    page-faulted anew on every large temporary), and once a task has run there its blend engines render on
    the task's thread (the workers are the parallelism)."""
    from candels_gui.core.parallel import run_partitions

    run_job(run_partitions(client, _worker_environment, [()] * 4))
    envs = client.run(_worker_environment)
    assert envs and all(e["MALLOC_ARENA_MAX"] == "1" for e in envs.values()), envs
    ran = run_job(run_partitions(client, _worker_environment, [()] * 2))
    assert all(e["CANDELS_GUI_RENDER_THREADS"] == "1" for e in ran), ran


def test_produce_on_a_cluster_gives_the_same_bytes(tmp_path, client, stamps, reference):
    z = tmp_path / "z"
    run_job(dist.produce_partitioned(stamps, z, OPTIONS, client=client, partition_size=50,
                                     data_path=sample_data_dir()))
    _assert_same_export(reference, z)
    h = tmp_path / "h"      # HDF5 written by the client from the workers' partitions; stamps sent, no path
    run_job(dist.produce_partitioned(stamps, h, OPTIONS, client=client, fmt="hdf5", partition_size=33))
    _assert_same_export(reference, h)


def test_concatenate_on_a_cluster_gives_the_same_npy_files(tmp_path, client, stamps, reference):
    compact = tmp_path / "c"
    run_job(produce(stamps, compact, ProduceOptions(n_blends=N_BLENDS, seed=7)))   # renders on read
    one = tmp_path / "one"
    run_job(produce(stamps, one, ProduceOptions(n_blends=N_BLENDS, seed=7)))
    for method in ("ogg_masks", "single_images"):
        run_job(concatenate(one, method))
        written = run_job(dist.concatenate_partitioned(compact, method, client=client, partition_size=37))
        assert [p.name for p in written] == ["train_images.npy", "train_labels.npy", "test_images.npy",
                                             "test_labels.npy"]
        for p in written:
            assert filecmp.cmp(one / p.name, p, shallow=False), (method, p.name)
    [store] = run_job(dist.concatenate_partitioned(compact, "single_images", client=client, partition_size=50,
                                                   fmt="zarr"))
    import zarr

    arrays = zarr.open_group(str(store), mode="r")
    assert arrays.attrs["label_method"] == "single_images" and arrays.attrs["complete"]
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(arrays[name][...], np.load(one / f"{name}.npy")), name
    assert not [p for p in compact.iterdir() if p.name.endswith((".tmp", ".partial"))]


def test_cancel_on_a_cluster_leaves_nothing(tmp_path, client, stamps):
    """Cancel (the app's button, Ctrl-C in the CLI) mid-run: futures cancelled, no file under a final name."""
    out = tmp_path / "c"
    run_job(produce(stamps, out, ProduceOptions(n_blends=N_BLENDS, seed=7)))
    before = sorted(p.name for p in out.iterdir())
    token = CancelToken()
    job = dist.concatenate_partitioned(out, "bogg_masks", client=client, partition_size=4, cancel=token)
    with pytest.raises(Cancelled):
        for p in job:
            if p.done > 0:
                token.cancel()
    assert sorted(p.name for p in out.iterdir()) == before
    assert _settles(client), "tasks of the cancelled run still run on the cluster"


def _settles(client, timeout: float = 10.0) -> bool:
    """True once the scheduler holds no task of the cancelled run."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(client.processing().values()):
            return True
        time.sleep(0.1)
    return False


def test_a_worker_reading_other_data_is_a_clear_error(tmp_path, client, stamps):
    """A worker whose input differs from the client's (another file at the path) stops the run with a
    DataError naming the path; the other futures are cancelled and no output is left under a final name."""
    import shutil

    other = tmp_path / "data"
    shutil.copytree(sample_data_dir(), other)
    images = np.load(other / "candels_img.npy")
    images[0, 0, 0] += 1.0
    np.save(other / "candels_img.npy", images)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="reads other data"):
        run_job(dist.produce_partitioned(stamps, out, OPTIONS, client=client, partition_size=60, data_path=other))
    assert not (out / "blends.zarr").exists() and not (out / "manifest.json").exists()
    assert _settles(client)


def test_deblend_and_evaluate_on_a_cluster_equal_one_process(tmp_path, client, reference):
    from candels_gui.core.store.sources import open_split
    from candels_gui.deblend import get
    from candels_gui.deblend.distributed import deblend_partitioned
    from candels_gui.evaluation import evaluate
    from candels_gui.evaluation.distributed import evaluate_partitioned

    source = open_split(reference, "test")
    images = read_export(reference, split="test").images
    for name in ("sep", "unet-seg"):
        ours = run_job(deblend_partitioned(source, name, client=client, batch_size=8, partition_size=12))
        theirs = run_job(get(name).iter_run(images, 8))
        assert len(ours) == len(theirs) == len(images)
        for a, b in zip(ours, theirs):
            assert np.array_equal(a.images, b.images) and np.array_equal(a.segmentation, b.segmentation)
            for col in b.catalog.colnames:
                assert np.array_equal(a.catalog[col], b.catalog[col])
    from candels_gui.core.parallel import worker_cache_builds

    builds = client.run(worker_cache_builds)       # each worker built each deblender once, whatever its tasks
    for name in ("'sep'", "'unet-seg'"):
        per_worker = [sum(c for k, c in counts.items() if k.startswith("('deblender'") and name in k)
                      for counts in builds.values()]
        assert max(per_worker) == 1, (name, builds)
    kw = dict(split="test", batch_size=8, oracle=True, mag_high=26.0)
    one = run_job(evaluate(reference, "sep,unet-seg,blend2flux", **kw))
    many = run_job(evaluate_partitioned(reference, "sep,unet-seg,blend2flux", client=client, partition_size=10,
                                        **kw))
    assert list(one.summaries) == list(many.summaries) and one.notes == many.notes
    for name, summary in one.summaries.items():
        assert summary.keys() == many.summaries[name].keys()
        for key, value in summary.items():
            other = many.summaries[name][key]
            assert value == other or (np.isnan(value) and np.isnan(other)), (name, key, value, other)
        a, b = one.tables[name], many.tables[name]
        assert a.colnames == b.colnames
        for col in a.colnames:
            x, y = np.asarray(a[col]), np.asarray(b[col])
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (name, col)


def test_deblend_results_in_zarr_written_by_workers_and_resumed(tmp_path, client, reference, monkeypatch):
    from candels_gui.core.store.sources import open_split
    from candels_gui.deblend import get
    from candels_gui.deblend import results_zarr
    from candels_gui.deblend.results_io import read_results, write_results

    source = open_split(reference, "test")
    ref = tmp_path / "one.h5"
    write_results(ref, run_job(get("sep").iter_run(read_export(reference, split="test").images, 8)))
    out = tmp_path / "sep.zarr"
    run_job(results_zarr.deblend_to_zarr(source, "sep", out, client=client, batch_size=8, partition_size=16))
    token = CancelToken()                    # the same in this process, stopped after two partitions, resumed
    again = tmp_path / "again.zarr"
    with pytest.raises(Cancelled):
        for p in results_zarr.deblend_to_zarr(source, "sep", again, batch_size=8, partition_size=16, cancel=token):
            if p.done >= 32:
                token.cancel()
    with pytest.raises(OptionError, match="started by another run"):    # other partitions: refused, kept
        run_job(results_zarr.deblend_to_zarr(source, "sep", again, batch_size=8, partition_size=24, resume=True))
    calls = []
    real = results_zarr.write_results_partition
    monkeypatch.setattr(results_zarr, "write_results_partition", lambda *a: calls.append(a[-1]) or real(*a))
    run_job(results_zarr.deblend_to_zarr(source, "sep", again, batch_size=8, partition_size=16, resume=True))
    assert calls == [2]                      # 48 test blends: partitions 0 and 1 were kept
    (attrs, blends), (ref_attrs, ref_blends) = read_results(out), read_results(ref)
    assert attrs["params"] == ref_attrs["params"] and attrs["n_blends"] == len(ref_blends) == 48
    for other in (blends, read_results(again)[1]):
        for a, b in zip(other, ref_blends):
            assert all(np.array_equal(a[k], b[k]) for k in ("segmentation", "images", "catalog"))
            assert set(a["params"]) == set(b["params"])


def test_killed_worker_loses_only_its_tasks(tmp_path, stamps, reference):
    """kill -9 of a worker process mid-run: the scheduler reruns its tasks elsewhere, same bytes."""
    out = tmp_path / "k"
    killed = None
    with open_client("local:2") as c:
        pids = _worker_pids(c)
        job = dist.produce_partitioned(stamps, out, OPTIONS, client=c, partition_size=8,
                                       data_path=sample_data_dir())
        for p in job:
            if killed is None and isinstance(p, Progress) and p.message == "writing blends" and p.done > 0:
                busy = {w: len(tasks) for w, tasks in c.processing().items() if tasks}
                if busy:
                    worker = next(iter(busy))
                    killed = c.run(os.getpid, workers=[worker])[worker]
                    os.kill(killed, signal.SIGKILL)
        assert killed is not None and not _alive(killed)
        pids |= _worker_pids(c)          # the nanny started a new worker in place of the killed one
    assert not _wait_gone(pids), "worker processes outlived their LocalCluster"
    _assert_same_export(reference, out)


def test_cli_on_a_local_cluster_and_a_running_scheduler(tmp_path, client, reference, capsys):
    """The commands a new user types: produce --format zarr on local:2; concatenate, deblend and evaluate joining
    a running scheduler by its address (the module's cluster); each equal to the one-process command."""
    from candels_gui.cli import main
    from candels_gui.deblend.results_io import read_results

    address = client.scheduler.address
    out = tmp_path / "BIG"
    assert main(["produce", "-n", str(N_BLENDS), "-s", "7", "--format", "zarr", "--scheduler", "local:2",
                 "--partition-size", "64", "-o", str(out)]) == 0
    _assert_same_export(reference, out)
    assert main(["concatenate", "-d", str(out), "-m", "gg_masks", "--scheduler", address]) == 0
    ref_npy = tmp_path / "ref"
    run_job(produce(load_stampset(sample_data_dir()), ref_npy, OPTIONS))
    run_job(concatenate(ref_npy, "gg_masks"))
    for name in ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy"):
        assert filecmp.cmp(ref_npy / name, out / name, shallow=False), name
    assert main(["deblend", "--model", "sep", "--data", str(out), "--scheduler", address, "--partition-size", "7",
                 "-o", str(tmp_path / "many.h5")]) == 0
    assert main(["deblend", "--model", "sep", "--data", str(reference), "-o", str(tmp_path / "one.h5")]) == 0
    (attrs_a, blends_a), (attrs_b, blends_b) = read_results(tmp_path / "many.h5"), read_results(tmp_path / "one.h5")
    assert len(blends_a) == len(blends_b) == int(N_BLENDS * 0.2)
    assert attrs_a["params"] == attrs_b["params"]
    for a, b in zip(blends_a, blends_b):
        assert all(np.array_equal(a[k], b[k]) for k in ("segmentation", "images", "catalog")) and a["params"] == b["params"]
    capsys.readouterr()
    assert main(["evaluate", "--data", str(out), "--deblenders", "sep", "--limit", "24", "--scheduler", address,
                 "--json"]) == 0
    many = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["evaluate", "--data", str(reference), "--deblenders", "sep", "--limit", "24", "--json"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == many


def test_classify_on_a_cluster_equals_one_process(client, stamps):
    from candels_gui.core.parallel import worker_cache_builds
    from candels_gui.morphology.classifier import MorphClassifier, classify_job, default_weights
    from candels_gui.morphology.distributed import classify_partitioned

    if not default_weights().is_file():
        pytest.skip("no shipped morph-cnn weights")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # as the workers: a convolution's sums run in another order on more threads
    try:
        one = run_job(classify_job(stamps, MorphClassifier.load(), batch_size=8))
    finally:
        torch.set_num_threads(threads)
    many = run_job(classify_partitioned(stamps, default_weights(), client=client, data_path=sample_data_dir(),
                                        batch_size=8, partition_size=12))   # 12 -> 16: whole batches
    assert np.array_equal(one.ids, many.ids)
    assert np.array_equal(one.probabilities, many.probabilities) and np.array_equal(one.nonfinite, many.nonfinite)
    builds = client.run(worker_cache_builds)       # the weights were read once per worker, whatever its tasks
    per_worker = [sum(c for k, c in counts.items() if k.startswith("('morph-cnn'")) for counts in builds.values()]
    assert max(per_worker) == 1 and sum(per_worker) >= 1, builds


def test_field_generated_on_a_cluster_equals_one_process(tmp_path, client):
    pytest.importorskip("torch")
    from astropy.io import fits

    from candels_gui.fields.generate import generate_field
    from test_fields_sgan import _weights

    weights = _weights(tmp_path)
    shape = (203, 317)                       # six tiles of 128, the last ones cut
    generate_field(weights, tmp_path / "one.fits", shape, seed=5, tile=128, device="cpu")
    generate_field(weights, tmp_path / "many.fits", shape, seed=5, tile=128, device="cpu", client=client)
    one, many = fits.getdata(tmp_path / "one.fits"), fits.getdata(tmp_path / "many.fits")
    assert many.shape == shape and np.isfinite(many).all()
    np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-6 * float(np.ptp(one)))   # threads: float rounding
