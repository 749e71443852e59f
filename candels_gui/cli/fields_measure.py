"""``field stamps`` and ``field compare``: galaxies cut from a field, and real-vs-generated statistics."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .common import number, whole


def add_stamps(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stamps", help="cut a stamp around every detected galaxy of a field (candels-blender layout)",
                       description="Detect the objects of a field with SEP and cut a stamp centred on each, with "
                                   "its segmentation map and a catalog row (mag, radius, provenance), into a "
                                   "candels-blender folder that 'produce -d' and the app read.")
    p.add_argument("field", metavar="FIELD.fits")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--size", type=whole(low=16, high=4096), default=128, help="stamp side in pixels (128)")
    p.add_argument("--hdu", type=whole(low=0), default=None)
    p.add_argument("--band", type=whole(low=0), default=None, help="plane of a cube")
    p.add_argument("--mag_max", type=number(low=-50, high=100), default=None,
                   help="keep objects brighter than this (AB)")
    p.add_argument("--max", type=whole(low=1), default=None, dest="max_stamps", help="at most this many stamps")
    p.add_argument("--zeropoint", type=number(low=-100, high=100), default=None,
                   help="AB zeropoint (default: header MAGZERO, else 25.96)")
    p.add_argument("--thresh", type=number(low=0, low_open=True, high=1e6), default=1.5,
                   help="detection threshold x background rms (1.5)")
    p.add_argument("--minarea", type=whole(low=1, high=10**8), default=10, help="minimum object area in pixels (10)")
    p.add_argument("--force", action="store_true", help="replace stamps already in DIR")
    p.set_defaults(func=_cmd_stamps)


def _settings(args: argparse.Namespace, zeropoint: float = 25.96) -> Any:
    from ..core.data.field_detect import DetectionSettings
    from ..core.errors import DataError

    if not args.thresh > 0 or args.minarea < 1:
        raise DataError(f"--thresh must be > 0 and --minarea >= 1, got {args.thresh} and {args.minarea}")
    return DetectionSettings(thresh=args.thresh, minarea=args.minarea, zeropoint=zeropoint)


def _warn(text: str) -> None:
    """A :class:`~candels_gui.core.errors.DataWarning` line (the CLI prints it as ``warning: …``)."""
    import warnings

    from ..core.errors import DataWarning

    warnings.warn(text, DataWarning, stacklevel=2)


def _cmd_stamps(args: argparse.Namespace) -> int:
    from ..core.data.field_stamps import field_stamps_job
    from ..core.jobs import run_with_progress
    from ..core.validate import check_output

    check_output(args.output, "-o", kind="folder", inputs=[args.field])

    res = run_with_progress(field_stamps_job(args.field, args.output, size=args.size, hdu=args.hdu, band=args.band,
                                             mag_max=args.mag_max, max_stamps=args.max_stamps,
                                             settings=_settings(args), zeropoint=args.zeropoint,
                                             overwrite=args.force), "cutting stamps", unit="tile")
    part = " in the part of the field looked at before --max was reached" if res.get("stopped_at_max") else ""
    print(f"{res['n_stamps']} stamps of {args.size} px -> {res['out']} ({res['n_detected']} objects detected{part}, "
          f"{res['n_edge']} too near the edge, {res['n_faint']} fainter than --mag_max)")
    if res.get("n_filled"):
        _warn(f"{res['n_filled']} stamp(s) hold pixels that are NaN in the field, set to 0 and marked in "
              f"candels_fillmask.npy (the readers keep them out of noise and flux measurements)")
    return 0


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="statistics of a real and a generated field, side by side",
                       description="Detect sources in both fields with the same SEP settings and compare, per unit "
                                   "area: number counts, flux-radius, shape and pixel-value distributions, power "
                                   "spectrum (two-sample KS and Wasserstein distances); plots with --plots.")
    p.add_argument("real", metavar="REAL.fits")
    p.add_argument("generated", metavar="GENERATED.fits")
    p.add_argument("--band", type=whole(low=0), default=None, help="plane of cubes (both files)")
    p.add_argument("--hdu", type=whole(low=0), default=None, help="HDU of both files")
    p.add_argument("--thresh", type=number(low=0, low_open=True, high=1e6), default=1.5,
                   help="detection threshold x background rms (1.5)")
    p.add_argument("--minarea", type=whole(low=1, high=10**8), default=10, help="minimum object area in pixels (10)")
    p.add_argument("--zeropoint", type=number(low=-100, high=100), default=None,
                   help="AB zeropoint of both (default: the real field's MAGZERO, else 25.96)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write the figures into DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object (nothing else on stdout)")
    p.set_defaults(func=_cmd_compare)


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..core.data.field_fits import read_field
    from ..core.jobs import run_with_progress
    from ..core.measure.json_out import dumps_strict
    from ..core.measure.field_stats import compare_fields, field_statistics_job

    from ..core.validate import check_output

    if args.plots:
        check_output(args.plots, "--plots", kind="folder", inputs=[args.real, args.generated])
    real = read_field(args.real, hdu=args.hdu, band=args.band, min_size=64)
    gen = read_field(args.generated, hdu=args.hdu, band=args.band, min_size=64)
    zp = args.zeropoint if args.zeropoint is not None else (real.zeropoint if real.zeropoint is not None else 25.96)
    settings = _settings(args, zp)
    scaled = bool(real.pixel_scale and gen.pixel_scale)     # per arcmin² when both fields know their scale
    if scaled and abs(real.pixel_scale / gen.pixel_scale - 1) > 0.01:
        _warn(f"the fields' pixel scales differ ({real.pixel_scale:.4g} and {gen.pixel_scale:.4g} arcsec/px): "
              f"counts are per each field's own area; sizes in pixels are not alike")
    st = []
    for f in (real, gen):
        st.append(run_with_progress(field_statistics_job(f.data, name=f.path.name,
                                                         pixel_scale=f.pixel_scale if scaled else None,
                                                         settings=settings), f"measuring {f.path.name}", unit="step"))
        if st[-1].catalog.meta.get("nan_pixels"):       # a documented repair, said as a warning line
            _warn(f"{f.path}: {st[-1].catalog.meta['nan_pixels']:,} NaN pixels masked")
    result = compare_fields(st[0], st[1])
    written = []
    if args.plots:
        from ..core.measure.field_plots import write_field_plots

        written = write_field_plots(st[0], st[1], real.data, gen.data, args.plots)
    if args.json:
        print(dumps_strict(result, default=float))   # NaN (an empty distribution) as null
    else:
        r, g = result["real"], result["generated"]
        unit = r["area_unit"]
        print(f"{'':22s} {'real':>14s} {'generated':>14s}")
        print(f"{'file':22s} {r['name'][:14]:>14s} {g['name'][:14]:>14s}")
        print(f"{'area (' + unit + ')':22s} {r['area']:14.4g} {g['area']:14.4g}")
        print(f"{'objects':22s} {r['n_objects']:14d} {g['n_objects']:14d}")
        print(f"{'per ' + unit:22s} {r['density']:14.4g} {g['density']:14.4g}")
        print(f"{'sky rms':22s} {r['rms']:14.4g} {g['rms']:14.4g}")
        print(f"\ndensity ratio (generated / real) {_fmt(result['density_ratio'])}; number counts: mean |log10 ratio| "
              f"{_fmt(result['counts_log_ratio'])}; power spectrum: mean |log10 ratio| {_fmt(result['power_log_ratio'])}")
        print(f"\n{'quantity':14s} {'median real':>12s} {'median gen':>12s} {'KS':>8s} {'KS p':>10s} {'Wasserstein':>12s}")
        for q, d in result["distributions"].items():
            print(f"{q:14s} {_fmt(d.get('median_real')):>12s} {_fmt(d.get('median_generated')):>12s} "
                  f"{_fmt(d['ks']):>8s} {_fmt(d['ks_pvalue']):>10s} {_fmt(d['wasserstein']):>12s}")
    for path in written:
        print(f"=> {path}", file=sys.stderr if args.json else sys.stdout)
    return 0
