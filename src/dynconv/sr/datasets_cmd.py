"""`dynconv data list|verify`: the data sets found, and their SHA256SUMS checked."""
from __future__ import annotations

from dynconv.console import progress
from dynconv.sr import datasets


def run(args) -> int:
    """``list``: every data set with its image count and folder; ``verify``: the checksums, a
    ValueError naming every missing or altered file."""

    source, _ = datasets.data_dir_source(args.data_dir)
    if args.action == "list":
        sets = datasets.list_sets(args.data_dir)
        root = datasets.resolve_data_dir(args.data_dir)
        print(f"data folder: {root} ({'--data-dir' if source == 'data_dir' else source})")
        width = max([len("set")] + [len(s.name) for s in sets])
        print(f"{'set'.ljust(width)}  images  location")
        for s in sets:
            print(f"{s.name.ljust(width)}  {s.images:6d}  {s.path}")
        return 0
    with progress.bar(None, "verify", unit="file", enabled=not args.no_progress) as bar:
        result = datasets.verify(args.data_dir, progress=lambda done, total: progress.advance(bar, done, total))
    for kind, names in (("MISSING", result.missing), ("ALTERED", result.mismatched), ("unchecked", result.unlisted)):
        print("".join(f"{kind:9s} {result.root / name}\n" for name in names), end="")
    if not result.ok:
        bad = result.missing + result.mismatched
        raise ValueError(f"{len(bad)} of {result.checked} files in {result.root} fail {datasets.CHECKSUMS}: {', '.join(bad)}")
    print(f"{result.checked} files OK in {result.root} ({source})")
    return 0
