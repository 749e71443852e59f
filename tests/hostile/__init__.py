"""The hostile-input corpus: bad inputs of many kinds, and a harness that runs every command on them.

``build_corpus.build(root)`` writes the inputs under ``root`` and returns the cases; ``harness.run_case``
runs one case (in-process through ``candels_gui.cli.main`` where it can) and classifies what happened;
``python tests/hostile/run_corpus.py`` prints the figures of ``docs/robustness.md``.
"""
