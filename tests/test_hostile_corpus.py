"""The hostile corpus (tests/hostile): every command and the session, weights, stamp and export loaders on
>= 300 bad inputs of >= 40 kinds. For each: a non-zero exit (or the loader's DataError) with a one-line
message naming the command (and, where the case says so, the option or file), no traceback, no output
left under a final name, no temporary file left, inputs unchanged, no hang.

``python tests/hostile/run_corpus.py`` prints the same figures as a table (docs/robustness.md).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile.build_corpus import build  # noqa: E402
from hostile.harness import run_case, summarise  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("torch")
    cases = build(tmp_path_factory.mktemp("hostile") / "corpus")
    return [run_case(c) for c in cases]


def test_corpus_is_large_and_varied(results):
    summary = summarise(results)
    assert summary["cases"] >= 300 and summary["kinds"] >= 40, summary


def test_every_bad_input_is_refused_cleanly(results):
    bad = [f"[{r.outcome}] {r.case.name}: {r.message[:200]} {r.detail}" for r in results
           if r.outcome not in ("clean", "ok")]
    assert not bad, f"{len(bad)} of {len(results)} cases:\n" + "\n".join(bad)


def test_controls_and_repairable_inputs_still_work(results):
    outcomes = Counter(r.outcome for r in results if r.case.expect in ("ok", "warn"))
    assert outcomes and set(outcomes) == {"ok"}, outcomes
