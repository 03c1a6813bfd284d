"""The ``dynconv`` command line.

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_cmd_<name>(args) -> int`` runs it. Exit codes: 0 success, 1 error, 2 usage. Errors print one
line (``dynconv: error: ...``) without a traceback unless ``--debug`` is given.
"""
from __future__ import annotations

import argparse
import sys

from dynconv import __version__


class CLIError(Exception):
    """An error the user can act on; printed as one line, exit status 1."""


# --------------------------------------------------------------------------- gradcheck
def _add_gradcheck(sub):
    p = sub.add_parser("gradcheck", help="finite-difference check of every layer and small networks")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_gradcheck)


def _cmd_gradcheck(args) -> int:
    from dynconv.gradcheck import run_suite

    ok = run_suite(seed=args.seed, out=sys.stdout)
    return 0 if ok else 1


# --------------------------------------------------------------------------- evaluate
_EVAL_FIELDS = ("dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim")


def _add_evaluate(sub):
    p = sub.add_parser(
        "evaluate",
        help="score super-resolution methods on data sets with the standard SR protocol",
        description="Y channel (MATLAB rgb2ycbcr), MATLAB bicubic degradation, shave `scale` pixels; "
        "PSNR, WPSNR, SSIM and MS-SSIM. JSON output is a list of records "
        '{"dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim"} with '
        '"image": "mean" for each average (null: metric not requested, or infinite).',
    )
    p.add_argument("--method", nargs="+", default=["bicubic"], metavar="NAME",
                   help="method name(s) (default: bicubic)")
    p.add_argument("--dataset", nargs="+", default=["Set5"], metavar="NAME_OR_DIR",
                   help="data-set names under the data folder, or folders of images (default: Set5)")
    p.add_argument("--scale", nargs="+", type=float, default=[2.0, 3.0, 4.0], metavar="S",
                   help="scale factors (default: 2 3 4)")
    p.add_argument("--metrics", default="psnr,wpsnr,ssim,msssim",
                   help="comma-separated subset of psnr,wpsnr,ssim,msssim (default: all)")
    p.add_argument("--per-image", action="store_true", help="also print every image, not only the means")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--color", choices=("y", "ycbcr", "hsv", "rgb"), default="y",
                   help="channel(s) the method sees and the metrics score (default: y, the standard)")
    p.add_argument("--data-dir", default=None, help="data folder (default: $DYNCONV_DATA or ../shared/data)")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    import csv
    import json
    import math

    from dynconv import metrics

    names = [m.strip().lower() for m in args.metrics.split(",") if m.strip()]
    bad = [m for m in names if m not in metrics.METRICS]
    if bad or not names:
        raise CLIError(f"--metrics: unknown metric(s) {', '.join(bad) or '(none)'}; "
                       f"choose from {','.join(metrics.METRICS)}")
    for s in args.scale:
        if not (math.isfinite(s) and s >= 1):
            raise CLIError(f"--scale: {s:g} is not a scale factor >= 1")
    methods = [metrics.resolve_method(m) for m in args.method]
    records = metrics.evaluate(args.dataset, args.scale, methods, names, data_dir=args.data_dir,
                               color=args.color)
    if not args.per_image:
        records = [r for r in records if r["image"] == "mean"]

    def finite(v):
        return v if v is None or math.isfinite(v) else None

    if args.format == "json":
        rows = [{k: (finite(r[k]) if k in metrics.METRICS else r[k]) for k in _EVAL_FIELDS} for r in records]
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(_EVAL_FIELDS)
        for r in records:
            w.writerow(["" if r[k] is None else (repr(r[k]) if isinstance(r[k], float) else r[k])
                        for k in _EVAL_FIELDS])
    else:
        digits = {"psnr": 3, "wpsnr": 3, "ssim": 4, "msssim": 4}
        cols = ["dataset", "scale", "method", "image"] + [m for m in metrics.METRICS if m in names]
        body = [[str(r[c]) if c not in digits else f"{r[c]:.{digits[c]}f}" for c in cols] for r in records]
        width = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, width)).rstrip())
        for row in body:
            print("  ".join(v.rjust(w) if c in digits or c == "scale" else v.ljust(w)
                            for v, w, c in zip(row, width, cols)).rstrip())
    return 0


# --------------------------------------------------------------------------- parser
_ADDERS = [_add_gradcheck, _add_evaluate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynconv",
        description="Dynamic convolutional networks for image super-resolution (NumPy + numba).",
    )
    parser.add_argument("--version", action="version", version=f"dynconv {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dynconv: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"dynconv: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
