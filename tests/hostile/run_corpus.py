"""Run the hostile corpus and print its figures (the table of docs/robustness.md).

    python tests/hostile/run_corpus.py [--json] [--failures] [--only SUBSTRING]

Builds the corpus in a temporary folder, runs every case, prints one row per kind and the totals.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import os  # noqa: E402

# HOSTILE_PYTHONPATH: run the corpus against another copy of the package (e.g. the code before a change)
CODE = Path(os.environ.get("HOSTILE_PYTHONPATH", str(Path(__file__).resolve().parents[2]))).resolve()
if not (CODE / "candels_gui" / "__init__.py").is_file():
    sys.exit(f"run_corpus: no candels_gui package in {CODE} (HOSTILE_PYTHONPATH)")
sys.path.insert(1, str(CODE))

from hostile.build_corpus import build  # noqa: E402
from hostile.harness import OUTCOMES, run_case, summarise  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--failures", action="store_true", help="list every case that is not clean")
    p.add_argument("--messages", action="store_true", help="list every case with its message")
    p.add_argument("--only", default=None, help="run only the cases whose name contains this")
    p.add_argument("--keep", default=None, help="build the corpus in this folder and keep it")
    args = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch  # noqa: F401  (imported once, as the test run does)

    import candels_gui

    if Path(candels_gui.__file__).resolve().parent != CODE / "candels_gui":
        sys.exit(f"run_corpus: imported {candels_gui.__file__}, not the package in {CODE}")
    print(f"code under test: {CODE}", file=sys.stderr)

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="candels-gui-hostile-"))
    t0 = time.perf_counter()
    cases = build(root / "corpus")
    t_build = time.perf_counter() - t0
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    results = [run_case(c) for c in cases]
    t_run = time.perf_counter() - t0 - t_build
    summary = summarise(results)
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: {k: 0 for k in OUTCOMES})
    for r in results:
        by_kind[r.case.kind][r.outcome] += 1
    if args.json:
        print(json.dumps({**summary, "build_s": round(t_build, 1), "run_s": round(t_run, 1),
                          "by_kind": by_kind}))
    else:
        cols = [k for k in OUTCOMES]
        print(f"{'kind':24s} " + " ".join(f"{c:>9s}" for c in cols))
        for kind in sorted(by_kind):
            print(f"{kind:24s} " + " ".join(f"{by_kind[kind][c]:9d}" for c in cols))
        print(json.dumps(summary))
        print(f"built in {t_build:.1f} s, ran in {t_run:.1f} s")
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)     # the corpus and what the cases wrote
    if args.messages:
        for r in results:
            print(f"[{r.outcome}] {r.case.name}: {r.message}", file=sys.stderr)
    elif args.failures:
        for r in results:
            if r.outcome not in ("clean", "ok"):
                print(f"[{r.outcome}] {r.case.name}: {r.message[:300]} {r.detail}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
