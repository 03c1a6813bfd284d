"""The ``dynconv`` command line: parse, call the library, print.

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_cmd_<name>(args) -> int`` runs it. Method and model names, in the help texts as in the
commands, come from :mod:`dynconv.sr`'s registry. Exit codes: 0 success, 1 error, 2 usage.
Errors print one line (``dynconv: error: ...``) without a traceback unless ``--debug`` is given.

Nothing else in :mod:`dynconv` imports this module (``python -m dynconv`` runs :func:`main`).
"""
from __future__ import annotations

import argparse
import re
import sys

from dynconv import __version__
from dynconv.console import interrupts


class CLIError(Exception):
    """An error the user can act on; printed as one line, exit status 1."""


DATA_DIR_HELP = "data folder (default: $DYNCONV_DATA, else the data that ship with dynconv)"


def _progress_arg(p, what="progress bar"):
    p.add_argument("--no-progress", action="store_true",
                   help=f"no {what} on stderr (it shows only when stderr is a terminal)")


# --------------------------------------------------------------------------- gradcheck
def _add_gradcheck(sub):
    p = sub.add_parser("gradcheck", help="finite-difference check of every layer and small networks")
    p.add_argument("--seed", type=_seed_arg, default=0, help="random seed, 0 to 2**32-1 (default: 0)")
    p.set_defaults(func=_cmd_gradcheck)


def _cmd_gradcheck(args) -> int:
    from dynconv.gradcheck import run_suite

    ok = run_suite(seed=args.seed, out=sys.stdout)
    return 0 if ok else 1


# --------------------------------------------------------------------------- evaluate
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
                   help=f"{_method_names()} or a PATH.npz checkpoint (default: bicubic)")
    p.add_argument("--dataset", nargs="+", default=["Set5"], metavar="NAME_OR_DIR",
                   help="data-set names under the data folder, or folders of images (default: Set5)")
    p.add_argument("--scale", nargs="+", type=_scale_arg, default=[2.0, 3.0, 4.0], metavar="S",
                   help="scale factors (default: 2 3 4)")
    p.add_argument("--metrics", default="psnr,wpsnr,ssim,msssim",
                   help="comma-separated subset of psnr,wpsnr,ssim,msssim (default: all)")
    p.add_argument("--per-image", action="store_true", help="also print every image, not only the means")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--color", choices=("y", "ycbcr", "hsv", "rgb"), default="y",
                   help="channel(s) the method sees and the metrics score (default: y, the standard)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    _progress_arg(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from dynconv import sr
    from dynconv.console import progress
    from dynconv.sr import datasets, evaluate_cmd, metrics

    names = [m.strip().lower() for m in args.metrics.split(",") if m.strip()]
    bad = [m for m in names if m not in metrics.METRICS]
    if bad or not names:
        raise CLIError(f"--metrics: unknown metric(s) {', '.join(bad) or '(none)'}; "
                       f"choose from {','.join(metrics.METRICS)}")
    methods = [sr.resolve(m) for m in args.method]
    images = sum(len(datasets.list_images(d, args.data_dir)) for d in args.dataset)
    with progress.bar(images * len(args.scale) * len(methods), unit="image", enabled=not args.no_progress) as bar:
        def step(message):  # "<set> x<s> <method> <image>: <seconds> s"
            bar.set_description(message.rsplit(":", 1)[0], refresh=False)
            bar.update(1)

        records = sr.evaluate(args.dataset, args.scale, methods, names, data_dir=args.data_dir,
                              color=args.color, progress=step)
    if not args.per_image:
        records = [r for r in records if r["image"] == "mean"]
    evaluate_cmd.write_records(records, args.format, names, sys.stdout)
    return 0


# --------------------------------------------------------------------------- methods and threads
def _method_names():
    """The registered method names, for help texts: ``bicubic | dcnn | ...``."""
    from dynconv import sr

    return " | ".join(sr.names())


def _threads_arg(p):
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads the kernels use (default: all cores; NumPy's BLAS stays serial between "
                        "kernels). Two single-threaded runs side by side use two cores well")


def _set_threads(n):
    """``--threads N``: the kernels' threads (:func:`dynconv.kernels.set_threads`; one level of
    parallelism, NumPy's BLAS serial between kernels)."""
    if n is not None:
        from dynconv.kernels import set_threads

        set_threads(n)


# --------------------------------------------------------------------------- train
def _add_train(sub):
    p = sub.add_parser("train", help="train a model from a TOML config (see configs/)",
                       description="Train on sub-images of the training set (T91) at the config's "
                       "scales; writes checkpoint.npz, log.csv, curves.png and, at the end, model.npz "
                       "with its Set5/Set14 scores to --out. The config, data sets and --resume file are "
                       "checked before any work; a checkpoint holds only a state whose loss was finite; "
                       "Ctrl-C (exit 130), SIGTERM (exit 143) and errors write the last good state first.")
    p.add_argument("--config", required=True, help="TOML file (e.g. configs/dcnn-x234.toml)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<config name>)")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue from a checkpoint of this run (its config must match; only train.steps, "
                        "train.lr, train.clip_norm, the time budget and eval/checkpoint settings may change)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--steps", type=_positive_int, default=None, help="override train.steps")
    p.add_argument("--init", default=None, help="override train.init (a shipped name, a .npz or a run folder)")
    _progress_arg(p, "progress bar (logs still print)")
    _threads_arg(p)
    p.set_defaults(func=_cmd_train)


def _add_retrain(sub):
    from dynconv.training import retrain_cmd  # its arguments and run function live there: cli.py stays small
    retrain_cmd.add_parser(sub, _positive_int, DATA_DIR_HELP, _progress_arg)


def _cmd_train(args) -> int:
    from pathlib import Path

    from dynconv.training import train

    config = train.load_config(args.config)
    _set_threads(args.threads or config["train"]["threads"] or None)  # the flag, else the recipe's
    if args.steps is not None:
        config["train"]["steps"] = args.steps
    if args.init is not None:
        config["train"]["init"] = args.init
    out = args.out or str(Path("runs") / Path(args.config).stem)
    result = train.train(config, out, data_dir=args.data_dir, resume=args.resume,
                         progress=not args.no_progress)
    print(f"{result['status']} at step {result['step']} after {result['wall_seconds']:.0f} s; outputs in {out}")
    for ds, per in (result.get("scores") or {}).items():
        print(ds + ": " + ", ".join(f"{k} {v['psnr']:.3f} dB / {v['ssim']:.4f}" for k, v in per.items()))
    return {"interrupted": 130, "terminated": 143}.get(result["status"], 0)


# --------------------------------------------------------------------------- upscale
def _positive_int(value, low=1, high=None):
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < low or (high is not None and n > high):  # argparse adds the option's name
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}" if high is None
                                         else f"must be between {low} and {high}, got {value}")
    return n


def _seed_arg(value):  # NumPy's generators take 0..2**32-1
    return _positive_int(value, 0, 2**32 - 1)


def _scale_arg(value):
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not (s >= 1 and s <= 16):
        raise argparse.ArgumentTypeError(f"scale must be between 1 and 16, got {value}")
    return s


def _add_upscale(sub):
    p = sub.add_parser("upscale", help="super-resolve image files",
                       description="Bicubic-upsample each image by --scale and let the model restore "
                       "detail (on Y for ycbcr, V for hsv, every channel for rgb). Alpha, 16 bits (PNG, "
                       "TIFF), the ICC profile and the dpi (scaled) are kept; the work runs in strips, "
                       "so memory stays bounded. Forms: IN OUT, or IN [IN ...] --out-dir DIR.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="input image(s) (PNG, JPEG, TIFF, WebP, BMP, ...)")
    p.add_argument("--out-dir", metavar="DIR", help="write DIR/<stem>.<ext> for every input")
    p.add_argument("--ext", help="output extension with --out-dir (default: each input's own)")
    p.add_argument("--scale", type=_scale_arg, required=True, help="upscaling factor, e.g. 3")
    p.add_argument("--model", default="auto", help=f"auto | {_method_names()} | PATH.npz (default: auto, "
                   "the best shipped model for the factor on Set14; `dynconv models` describes them)")
    p.add_argument("--color", choices=("ycbcr", "rgb", "hsv"), default="ycbcr")
    p.add_argument("--quality", type=int, default=None, help="JPEG/WebP quality 1-95 (default 95)")
    p.add_argument("--max-pixels", type=_positive_int, default=None,
                   help="refuse larger inputs, checked from the header (default: Pillow's limit)")
    p.add_argument("--force", action="store_true", help="allow the output to overwrite the input")
    _threads_arg(p)
    _progress_arg(p, "progress bar (the strips of one image, or the files)")
    p.set_defaults(func=_cmd_upscale)


def _cmd_upscale(args) -> int:
    _set_threads(args.threads)
    from dynconv.photo import upscale_cmd

    args.output = args.inputs.pop() if args.out_dir is None and len(args.inputs) == 2 else None
    if args.out_dir is None and args.output is None:
        print("dynconv upscale: error: give IN OUT, or IN [IN ...] --out-dir DIR", file=sys.stderr)
        return 2
    return upscale_cmd.run(args)


# --------------------------------------------------------------------------- demo
def _add_demo(sub):
    p = sub.add_parser("demo", help="super-resolve matplotlib's sample photo (no data needed)",
                       description="Takes matplotlib's bundled grace_hopper.jpg, downscales it x3 "
                       "(MATLAB bicubic), super-resolves it with bicubic and the shipped DCNN, and "
                       "writes side-by-side crops with Y-PSNR/SSIM in the titles.")
    p.add_argument("--out", default="demo.png", help="output PNG (default: demo.png)")
    p.add_argument("--model", default="dcnn",
                   help=f"method shown beside bicubic: {_method_names()} | PATH.npz (default: dcnn)")
    p.add_argument("--scale", type=_scale_arg, default=3.0)
    _threads_arg(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    _set_threads(args.threads)
    from dynconv.demo import run_demo

    for line in run_demo(args.out, model=args.model, scale=args.scale):
        print(line)
    return 0


# --------------------------------------------------------------------------- models
def _add_models(sub):
    p = sub.add_parser("models", help="list the registered methods, their architectures and weights")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args) -> int:
    from dynconv.sr import models_cmd

    return models_cmd.run(args)


# --------------------------------------------------------------------------- reproduce
def _reproduce_sections():
    from dynconv.reproduce import SECTIONS

    return SECTIONS


def _add_reproduce(sub):
    p = sub.add_parser("reproduce", help="regenerate the paper's Tables 1-3 and figures beside its numbers",
                       description="Evaluates the shipped models (or --models-dir) with the standard "
                       "protocol (the code behind `dynconv evaluate`) and writes <table>.md, <table>.csv, "
                       "PNG figures, results.md (summary with models and wall times) and manifest.json "
                       "into --out. Tables 1 and 3 cover Set5 (with the paper's values) and Set14.")
    p.add_argument("--table", choices=(*_reproduce_sections(), "all"), default="all",
                   help="what to produce (default: all)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--out", default="docs/results", help="output folder (default: docs/results)")
    p.add_argument("--models-dir", default=None, metavar="DIR",
                   help="folder of <file>.npz weights (dcnn-x234.npz, srcnn-x2.npz, ...) used instead of the "
                        "shipped ones")
    p.add_argument("--summary", default=None, metavar="FILE",
                   help="where the summary goes (default: <out>/results.md); links are relative to it")
    p.add_argument("--notes", default=None, metavar="FILE",
                   help="Markdown included in the summary (e.g. docs/discussion.md)")
    _threads_arg(p)
    _progress_arg(p)
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    _set_threads(args.threads)
    from dynconv.reproduce import reproduce_cmd

    return reproduce_cmd.run(args)


# --------------------------------------------------------------------------- data
def _add_data(sub):
    p = sub.add_parser("data", help="list the data sets or verify their checksums",
                       description="The data sets (T91, Set5, Set14) ship with dynconv. They are "
                       "looked up in --data-dir, then $DYNCONV_DATA, then the shipped copy.")
    p.add_argument("action", choices=("list", "verify"),
                   help="list: each set, its image count and location; verify: check SHA256SUMS "
                        "(exit 1 naming each missing or altered file)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    _progress_arg(p, "progress bar for verify")
    p.set_defaults(func=_cmd_data)


def _cmd_data(args) -> int:
    from dynconv.sr import datasets_cmd

    return datasets_cmd.run(args)


# --------------------------------------------------------------------------- parser
_ADDERS = [_add_demo, _add_upscale, _add_evaluate, _add_reproduce, _add_train, _add_retrain, _add_models,
           _add_data, _add_gradcheck]


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
    """Run the command line; return the exit status (0, 1 error, 2 usage, 130 Ctrl-C, 143 SIGTERM).

    Ctrl-C is handled from the first line: building the parser imports the model registry, which
    takes seconds on a cold start, and an interrupt there is still exit 130 without a traceback.
    """
    args, ctrl_c = None, interrupts.Watch()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        flags = _flag_names(parser)
        args.error_text = lambda exc: _one_line(exc, flags)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dynconv: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if ctrl_c.seen(exc):  # e.g. NumPy's import turns Ctrl-C into an ImportError
            print("dynconv: interrupted", file=sys.stderr)
            return 130
        if args is None or args.debug or not _expected(exc):
            raise  # args is None: the parser itself failed, a bug
        print(f"dynconv: error: {args.error_text(exc)}", file=sys.stderr)
        return 1
    except BaseException as exc:  # SIGTERM while a file was written (fileio.atomic_path)
        fileio = sys.modules.get("dynconv.fileio")
        if fileio is None or not isinstance(exc, fileio.Terminated):
            raise
        print("dynconv: terminated", file=sys.stderr)
        return 143
    finally:
        ctrl_c.close()


def _one_line(exc, flags) -> str:
    """The error on one line, a parameter in backticks (`data_dir`) written as its flag."""
    text = " ".join((str(exc) or type(exc).__name__).split())
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: flags.get(m.group(1), m.group(0)), text)


def _flag_names(parser) -> dict:
    """``{parameter: flag}`` over every command: library errors name parameters, users typed flags."""
    names, todo = {}, [parser]
    while todo:
        for action in todo.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += action.choices.values()
            elif action.option_strings and action.dest != "help":
                names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def _expected(exc) -> bool:
    """A failure the user can act on (one line, exit 1); anything else is a bug and keeps its
    traceback. The training errors are looked up only if their module was imported."""
    if isinstance(exc, (CLIError, ValueError, OSError, MemoryError)):
        return True
    train, fileio = sys.modules.get("dynconv.training.train"), sys.modules.get("dynconv.fileio")
    return bool((train and isinstance(exc, train.TrainingError))
                or (fileio and isinstance(exc, fileio.RunFolderBusy)))


if __name__ == "__main__":
    sys.exit(main())
