"""``dynconv retrain``: the command's run function (the logic is in :mod:`dynconv.training.retrain`)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["HELP", "DESCRIPTION", "add_parser", "run"]

HELP = "retrain the shipped models (or CONFIGs) as a job graph and compare their scores"
DESCRIPTION = ("Train every shipped model's lineage (or the CONFIGs given, or --ablations) as `dynconv train` "
               "jobs, each in OUT/<config name>/; a child that warm-starts (train.init) runs after its parent, "
               "from the parent's retrained model.npz. Runs on Dask (the `cluster` extra; --address for a "
               "running scheduler) or a local process pool. Rerunning resumes unfinished jobs and skips finished "
               "ones. Writes OUT/report.md and OUT/report.json: the retrained scores beside the shipped ones.")


def add_parser(sub, positive_int, data_dir_help, progress_arg):
    """Declare ``dynconv retrain`` in the command line's sub-parsers (the command line hands over its
    checked integer type, data-folder help and ``--no-progress`` helper: nothing imports cli)."""
    p = sub.add_parser("retrain", help=HELP, description=DESCRIPTION)
    p.add_argument("configs", nargs="*", metavar="CONFIG", help="TOML configs (default: the shipped models')")
    p.add_argument("--ablations", action="store_true", help="add the configs in configs/ablations/")
    p.add_argument("--out", default="runs/retrain", help="output folder (default: runs/retrain)")
    p.add_argument("--jobs", type=positive_int, default=None, help="local workers (default: one per core)")
    p.add_argument("--address", default=None, help="a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--steps", type=positive_int, default=None, help="cap every job's train.steps")
    p.add_argument("--data-dir", default=None, help=data_dir_help)
    progress_arg(p, "overall bar (the job lines still print)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``dynconv retrain`` from parsed arguments; prints the report's table. Exit 0 when every
    job finished, 130 when interrupted, 1 when a job failed."""
    from dynconv.training import retrain

    configs = list(args.configs) + ([str(p) for p in retrain.ablation_configs()] if args.ablations else [])
    if not configs:
        configs = [str(p) for p in retrain.shipped_configs()]
    result = retrain.retrain(configs, args.out, jobs=args.jobs, address=args.address, steps=args.steps,
                             data_dir=args.data_dir, progress=not args.no_progress)
    print((Path(args.out) / "report.md").read_text(), end="")
    print(f"{len(result['results'])} jobs in {result['wall_seconds']:.0f} s; report in {args.out}/report.md|json")
    statuses = {r.get("status") for r in result["results"].values()}
    return 130 if "interrupted" in statuses else 1 if statuses - {"done", "skipped"} else 0
