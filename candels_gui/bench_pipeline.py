"""``bench --only pipeline``: from stamps to training arrays, the way a user gets them, process start to exit.

``candels-gui produce -n N`` then ``candels-gui concatenate -m ogg_masks`` (two commands, two processes) on
the bundled sample data, which is in candels-blender's layout. With the environment variable
``CANDELS_BLENDER_SRC`` naming a checkout of candels-blender's source (it needs pandas and click), the same
run also times candels-blender's ``produce`` and ``concatenate -m ogg_masks`` on the same data, so the
side-by-side figure comes from one run on one machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["bench_pipeline", "run_timed"]

Log = Callable[[str], None] | None

#: Environment variable naming a candels-blender source checkout for the side-by-side.
BLENDER_SRC_ENV = "CANDELS_BLENDER_SRC"


def run_timed(args: list[str], cwd: str | os.PathLike, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command to its end; return its wall seconds and its own peak resident memory in MB.

    The peak is the child's high-water mark (``VmHWM`` of ``/proc/PID/status``, read every 10 ms while it runs):
    its own memory after ``exec``. ``wait4``'s ``ru_maxrss`` would not do: a child started by ``vfork`` and
    ``exec`` inherits the launching process's peak as its own.
    """
    os.sync()   # start on a quiet disk: no earlier step's gigabytes still being written back
    t0 = time.perf_counter()
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else b""),
                                  daemon=True)
        reader.start()
        peak_kb = 0
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(status))
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        reader.join()
    if proc.returncode != 0:
        text = b"".join(err).decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{' '.join(map(str, args))} exited with {proc.returncode}: {text}")
    return seconds, peak_kb / 1024.0


def _high_water_kb(status: Path) -> int:
    """``VmHWM`` in kB from a ``/proc/PID/status`` file (0 once the process is gone or off Linux)."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _ours(n: int, data: Path, out: Path, root: str) -> dict[str, float]:
    cli = [sys.executable, "-m", "candels_gui.cli"]
    produce_s, produce_mb = run_timed([*cli, "produce", "-n", str(n), "-d", str(data), "-o", str(out), "--force"],
                                      root)
    concat_s, concat_mb = run_timed([*cli, "concatenate", "-d", str(out), "-m", "ogg_masks"], root)
    return {"produce_s": produce_s, "concatenate_s": concat_s, "concatenate_mb": concat_mb, "produce_mb": produce_mb}


def _candels_blender(n: int, data: Path, work: Path, src: Path) -> dict[str, float]:
    """candels-blender's two commands from its own source, in ``work`` (its output folder is named there)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg"}
    cli = [sys.executable, "-m", "blender.scripts.cli"]
    work.mkdir()
    produce_s, _ = run_timed([*cli, "produce", "-n", str(n), "-d", str(data)], work, env)
    outputs = sorted(work.glob("output-*"))
    if len(outputs) != 1:
        raise RuntimeError(f"candels-blender's produce left {len(outputs)} output folders in {work}")
    concat_s, concat_mb = run_timed([*cli, "concatenate", "-d", outputs[0].name, "-m", "ogg_masks"], work, env)
    return {"produce_s": produce_s, "concatenate_s": concat_s, "concatenate_mb": concat_mb}


def bench_pipeline(n: int, log: Log) -> dict[str, Any]:
    """``produce -n N`` + ``concatenate -m ogg_masks`` to ``{train,test}_{images,labels}.npy``, the two
    commands timed from process start to exit: ``pipeline_to_arrays_blends_per_s`` and concatenate's peak
    memory ``concatenate_peak_rss_mb``; with ``CANDELS_BLENDER_SRC`` set, candels-blender's same two commands
    on the same data (``candels_blender_pipeline_blends_per_s``) and the ratio
    (``pipeline_speedup_vs_candels_blender``)."""
    from .paths import sample_data_dir

    root = str(Path(__file__).resolve().parents[1])
    data = sample_data_dir()
    out: dict[str, Any] = {"pipeline_n": n}
    with tempfile.TemporaryDirectory(prefix="candels-bench-pipeline-") as tmp:
        ours = _ours(n, data, Path(tmp) / "ours", root)
        total = ours["produce_s"] + ours["concatenate_s"]
        out.update({"pipeline_to_arrays_blends_per_s": round(n / total),
                    "pipeline_produce_s": round(ours["produce_s"], 2),
                    "pipeline_concatenate_s": round(ours["concatenate_s"], 2),
                    "concatenate_peak_rss_mb": round(ours["concatenate_mb"])})
        src = os.environ.get(BLENDER_SRC_ENV)
        if src:
            import shutil

            shutil.rmtree(Path(tmp) / "ours")   # the disk holds one run's arrays at a time
            theirs = _candels_blender(n, data, Path(tmp) / "candels-blender", Path(src).expanduser().resolve())
            their_total = theirs["produce_s"] + theirs["concatenate_s"]
            out.update({"candels_blender_pipeline_blends_per_s": round(n / their_total, 1),
                        "candels_blender_produce_s": round(theirs["produce_s"], 2),
                        "candels_blender_concatenate_s": round(theirs["concatenate_s"], 2),
                        "candels_blender_concatenate_peak_rss_mb": round(theirs["concatenate_mb"]),
                        "pipeline_speedup_vs_candels_blender": round(their_total / total, 1)})
    if log:
        log(f"pipeline: {out}")
    return out
