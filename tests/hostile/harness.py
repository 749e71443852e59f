"""Run one corpus case and classify what happened.

A case is a command line (run in-process through ``candels_gui.cli.main``, or in a subprocess when it
needs a real process) or a call of a loader (``session``, ``weights``, ``stampset``, ``export``). The
outcome is one of:

``clean``        non-zero exit (or the loader's error type) with a one-line message, nothing left behind
``ok``           a case expected to succeed did (the controls, and inputs that are repaired with a warning)
``traceback``    an exception escaped (a Python traceback), or an error of the wrong type from a loader
``silent``       exit 0 / no error on an input that must be refused (silently wrong output)
``partial``      an output under its final name, or a temporary file, was left behind
``changed``      an input file was modified
``messy``        refused, but the message is not one line naming the command (``candels-gui CMD: error: ...``)
``hang``         the case ran past its time limit
``refused``      a case expected to succeed (a control, a repairable input) failed
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("clean", "ok", "traceback", "silent", "partial", "changed", "messy", "hang", "refused")
#: Names of temporary files any writer of this program (or an older version) may leave.
TEMP_PATTERNS = (re.compile(r"^\.candels-gui-tmp-"), re.compile(r"\.tmp$"), re.compile(r"\.part$"))


@dataclass
class Case:
    """One hostile input and the command (or loader) that gets it."""

    kind: str
    name: str
    folder: Path
    argv: list[str] | None = None
    loader: str | None = None
    target: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    expect: str = "error"          # "error": must be refused; "ok": must succeed; "warn": succeed, saying so
    subprocess: bool = False
    timeout: float = 60.0
    mention: str | None = None     # the message must name this (the option, the file)


@dataclass
class Outcome:
    case: Case
    outcome: str
    rc: int | None
    message: str
    seconds: float
    detail: str = ""


class _Timeout(BaseException):
    pass


def _digest(paths: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in paths:
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            if q.is_file():
                out[str(q)] = hashlib.sha256(q.read_bytes()).hexdigest()
    return out


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:  # a name too long for the file system
        return False


def temp_files(folder: Path) -> list[Path]:
    """Temporary files (by name) anywhere under ``folder``."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if any(t.search(p.name) for t in TEMP_PATTERNS)]


def _run_main(argv: list[str], timeout: float) -> tuple[int | None, str, str, bool]:
    """(rc, stderr, stdout, escaped) of ``candels_gui.cli.main(argv)`` in this process."""
    from candels_gui.cli import main

    err, out = io.StringIO(), io.StringIO()
    escaped = False
    rc: int | None = None

    def on_alarm(signum, frame):  # noqa: ARG001
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("always")
            try:
                rc = main(list(argv))
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except _Timeout:
                raise
            except BaseException:  # noqa: BLE001 - an escaped exception is what we measure
                import traceback

                traceback.print_exc(file=err)
                escaped = True
    except _Timeout:
        return None, err.getvalue(), out.getvalue(), False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if rc is None and not escaped:
        rc = 0  # main returned None
    return rc, err.getvalue(), out.getvalue(), escaped


def _run_subprocess(argv: list[str], timeout: float, cwd: Path) -> tuple[int | None, str, str, bool]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("HOSTILE_PYTHONPATH", str(ROOT))}
    try:
        p = subprocess.run([sys.executable, "-m", "candels_gui.cli", *argv], capture_output=True, text=True,
                           timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        return None, "", "", False
    return p.returncode, p.stderr, p.stdout, "Traceback (most recent call last)" in p.stderr


def _run_loader(case: Case, timeout: float) -> tuple[str, str]:
    """('error'|'ok'|'wrong-error'|'hang', message) of a loader call."""
    from candels_gui.core.errors import DataError

    def on_alarm(signum, frame):  # noqa: ARG001
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if case.loader == "session":
                from candels_gui.core.curation.session import Session

                stamps = None
                if (case.folder / "data").is_dir():  # the session's data: its blends are checked against it
                    from candels_gui.core.data.load import load_stampset

                    stamps = load_stampset(case.folder / "data")
                session = Session.load(case.target, stamps=stamps)
                to_open = getattr(session, "data_path_to_open", None)  # absent before the path check
                if to_open is not None:
                    to_open()
            elif case.loader == "weights":
                from candels_gui.deblend.torch_deblender import TorchDeblender

                TorchDeblender.from_file(case.target, device="cpu")
            elif case.loader == "stampset":
                from candels_gui.core.data.load import load_stampset

                load_stampset(case.target)
            elif case.loader == "export":
                from candels_gui.core.store.export import read_export

                read_export(case.target, split="train")
            else:
                raise AssertionError(case.loader)
        return "ok", ""
    except _Timeout:
        return "hang", ""
    except DataError as exc:
        return "error", str(exc)
    except BaseException as exc:  # noqa: BLE001
        return "wrong-error", f"{type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _one_line_error(stderr: str, command: str) -> tuple[bool, str]:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return False, ""
    last = lines[-1]
    # a command with steps names the step: candels-gui field generate: error: ...
    ok = re.match(rf"candels-gui(?: {re.escape(command)}(?: [a-z-]+)?)?: error: ", last) is not None
    ok = ok and not any(re.search(r"\bWarning\b: ", ln) for ln in lines)
    return ok, last


def run_case(case: Case) -> Outcome:
    """Run ``case`` and classify the result (see the module docstring)."""
    before = _digest(case.inputs)
    existed = {p for p in case.outputs if _exists(p)}  # in the way before the run: not the run's output
    t0 = time.perf_counter()
    if case.loader:
        status, message = _run_loader(case, case.timeout)
        rc = None
        if status == "hang":
            outcome = "hang"
        elif status == "wrong-error":
            outcome = "traceback"
        elif status == "ok":
            outcome = "ok" if case.expect in ("ok", "warn") else "silent"
        else:
            outcome = "clean" if "\n" not in message and message.strip() else "messy"
            if outcome == "clean" and case.mention and case.mention.lower() not in message.lower():
                outcome = "messy"
            if case.expect in ("ok", "warn"):
                outcome = "refused"  # refused a good input
    else:
        runner = _run_subprocess if case.subprocess else None
        if runner is not None:
            rc, stderr, stdout, escaped = runner(case.argv, case.timeout, case.folder)
        else:
            rc, stderr, stdout, escaped = _run_main(case.argv, case.timeout)
        one, message = _one_line_error(stderr, case.argv[0] if case.argv else "")
        if escaped:
            outcome, message = "traceback", stderr.strip().splitlines()[-1] if stderr.strip() else ""
        elif rc is None:
            outcome = "hang"
        elif "Traceback (most recent call last)" in stderr:
            outcome, message = "traceback", stderr.strip().splitlines()[-1] if stderr.strip() else ""
        elif case.expect in ("ok", "warn"):
            outcome = "ok" if rc == 0 else "refused"
            said = [ln for ln in stderr.splitlines()
                    if re.match(rf"candels-gui {re.escape(case.argv[0])}(?: [a-z-]+)?: warning: ", ln)
                    and (case.mention is None or case.mention.lower() in ln.lower())]
            if outcome == "ok" and case.expect == "warn" and not said:
                outcome = "silent"  # repaired without telling the user (the warning names what: mention)
            message = message or stderr.strip()[-300:]
        elif rc == 0:
            outcome, message = "silent", (stdout.strip().splitlines() or [""])[-1]
        else:
            outcome = "clean" if one else "messy"
            if one and case.mention and case.mention.lower() not in message.lower():
                outcome = "messy"
            if not one:
                message = stderr.strip()[-400:]
    seconds = time.perf_counter() - t0
    detail = ""
    if outcome in ("clean", "ok"):
        left = [p for p in case.outputs if _exists(p) and p not in existed] if case.expect == "error" else []
        temps = temp_files(case.folder)
        if left or temps:
            outcome, detail = "partial", f"left: {[str(p) for p in left + temps][:4]}"
    if outcome in ("clean", "ok"):
        after = _digest(case.inputs)
        if after != before:
            outcome, detail = "changed", "input changed"
    return Outcome(case, outcome, rc, message, seconds, detail)


def summarise(results: list[Outcome]) -> dict[str, object]:
    """Counts per outcome, number of cases and kinds."""
    counts = {k: 0 for k in OUTCOMES}
    for r in results:
        counts[r.outcome] += 1
    bad = [r for r in results if r.case.kind != "control"]
    return {"cases": len(bad), "controls": len(results) - len(bad),
            "kinds": len({r.case.kind for r in bad}), **counts}
