"""Deblender evaluation: metrics over an export, the report files and the figures.

:func:`evaluate` (a job generator) gives an :class:`EvaluationResult`; :func:`write_report` writes the
metrics table (ECSV + JSON) and the per-blend tables; :func:`write_plots` (matplotlib, imported only
when called) draws the figures. ``candels-gui evaluate`` is the command line for all three;
:func:`~candels_gui.evaluation.distributed.evaluate_partitioned` (``evaluate --scheduler``) computes the same
result by partitions on a Dask cluster.

Examples
--------
>>> from candels_gui.core.jobs import run_job
>>> from candels_gui.evaluation import evaluate, write_plots, write_report
>>> result = run_job(evaluate("out", "photutils,sep"))     # doctest: +SKIP
>>> write_report(result, "eval"); write_plots(result, "eval/plots")   # doctest: +SKIP
"""

from __future__ import annotations

from .evaluate import (SUMMARY_UNITS, EvaluationResult, default_split, evaluate, format_summary,
                       resolve_deblenders, summary_json, to_prediction, truth_from_export, write_report)
from .measure import measure_results, select_brighter, summarize_results
from .plots import (PLOT_FILES, plot_iou_histograms, plot_magnitudes, plot_vs_delta_mag,
                    plot_vs_separation, write_plots)

__all__ = ["EvaluationResult", "evaluate", "resolve_deblenders", "truth_from_export", "to_prediction",
           "write_report", "format_summary", "summary_json", "SUMMARY_UNITS", "default_split",
           "PLOT_FILES", "write_plots", "plot_vs_separation", "plot_vs_delta_mag", "plot_iou_histograms",
           "plot_magnitudes", "measure_results", "summarize_results", "select_brighter"]
