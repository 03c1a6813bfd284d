"""``dynconv upscale``'s work: one file (``IN OUT``) or many (``IN... --out-dir DIR``).

Everything that can be checked is checked before any pixel is decoded: the output formats,
folders, ``--quality``, the model, outputs that would overwrite inputs or each other. With many
files a bad one is reported and skipped, the others are written, and the exit status is 1 if
any failed. Warnings (what a format cannot hold, 16-bit TIFFs read at 8 bits, factors a model
was not trained for) print as one ``warning:`` line each.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

from dynconv.console import progress
from dynconv.fileio import check_writable
from dynconv.photo import api as upscaler
from dynconv.photo import io as _photo

__all__ = ["plan", "run"]


def plan(inputs, output=None, out_dir=None, ext=None, force=False) -> list[tuple[Path, Path]]:
    """``[(src, dst), ...]``; ``ValueError`` for anything wrong with the outputs as a whole."""
    if out_dir is None:
        if output is None or len(inputs) != 1:
            raise ValueError("give one input and one output (IN OUT), or any number of inputs with "
                             "--out-dir DIR")
        if ext is not None:
            raise ValueError("--ext is for --out-dir; the output's extension gives its format")
        pairs = [(Path(inputs[0]), Path(output))]
    else:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out-dir {out_dir}: not a folder")
        if ext is not None:
            ext = ext if ext.startswith(".") else "." + ext
            _photo.output_format("x" + ext.lower())
        pairs = [(Path(s), out_dir / (Path(s).stem + (ext or Path(s).suffix.lower()))) for s in inputs]
        seen = {}
        for src, dst in pairs:
            if dst in seen:
                raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}")
            seen[dst] = src
    for src, dst in pairs:
        if out_dir is None:
            _photo.output_format(dst)
            check_writable(dst)
        if not force and src.exists() and dst.exists() and src.resolve() == dst.resolve():
            raise ValueError(f"{dst}: the output would overwrite the input (give --force to allow it)")
    return pairs


def _say(line, bar):
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _one(src, dst, args, method, bar, rows=None):
    """Upscale one file; warnings go through ``bar``; ``rows(done, total)`` after each strip."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = upscaler.upscale_file(src, dst, args.scale, color=args.color, quality=args.quality,
                                     max_pixels=args.max_pixels, force=args.force, method=method,
                                     progress=rows)
    for w in caught:
        _say(f"warning: {w.message}", bar)
    for note in done.notes:
        _say(f"warning: {dst}: {note}", bar)
    return done


def run(args) -> int:
    """Run the command for parsed ``args`` (see ``dynconv upscale --help``); the exit status."""
    from dynconv import sr

    many = args.out_dir is not None
    pairs = plan(args.inputs, None if many else args.output, args.out_dir, args.ext, args.force)
    if args.quality is not None and not 1 <= args.quality <= 95:
        raise ValueError(f"--quality must be in 1-95, got {args.quality}")
    for _, dst in pairs if args.quality is not None else ():
        if _photo.output_format(dst)[0] not in ("JPEG", "WEBP"):
            raise ValueError(f"{dst}: --quality is for JPEG and WebP outputs only")
    if not many:  # a bad input fails before any weights load
        src = pairs[0][0]
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such image file")
    scale = upscaler.check_scale(args.scale)
    name, method = upscaler.resolve_method(args.model, scale)
    auto = args.model == "auto"
    warning = sr.factor_warning(name, scale) if sr.is_model(name) else None
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if auto:
        print(f"model: {name} (the best shipped model at x{scale:g} on Set14)")
    if many:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        return _many(pairs, args, (name, method))
    src, dst = pairs[0]
    with progress.bar(None, src.name, unit="row", enabled=_progress_on(args)) as bar:
        done = _one(src, dst, args, (name, method), bar, lambda k, n: progress.advance(bar, k, n))
    print(f"{src} {done.in_size[0]}x{done.in_size[1]} -> {dst} {done.out_size[0]}x{done.out_size[1]} "
          f"({name}, x{scale:g}, {args.color})")
    return 0


def _progress_on(args):
    return not getattr(args, "no_progress", False)


def _many(pairs, args, method) -> int:
    failed = []
    with progress.bar(len(pairs), unit="file", enabled=_progress_on(args)) as bar:
        for src, dst in pairs:
            try:
                done = _one(src, dst, args, method, bar)
                bar.write(f"{src} {done.in_size[0]}x{done.in_size[1]} -> {dst} "
                          f"{done.out_size[0]}x{done.out_size[1]}")
            except (ValueError, OSError, MemoryError) as exc:
                failed.append(src)
                _say(f"dynconv: error: {args.error_text(exc)}", bar)
            bar.update(1)
    ok = len(pairs) - len(failed)
    print(f"{ok} of {len(pairs)} files upscaled x{args.scale:g} into {args.out_dir}"
          + (f"; failed: {', '.join(map(str, failed))}" if failed else ""))
    return 1 if failed else 0
