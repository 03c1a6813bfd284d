"""``dynconv evaluate``'s output: the protocol's records as an aligned table, CSV or JSON."""
from __future__ import annotations

import csv
import json
import math

from dynconv.sr import metrics

__all__ = ["FIELDS", "write_records"]

#: The columns of the CSV and the keys of the JSON records, in order.
FIELDS = ("dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim")


def _finite(v):
    return v if v is None or math.isfinite(v) else None


def write_records(records, fmt, names, out):
    """Write ``records`` (from :func:`dynconv.sr.evaluate`) to ``out`` as ``fmt``.

    ``fmt`` is ``"json"`` (a list of records, null for a metric not requested or infinite),
    ``"csv"`` (every field) or ``"table"`` (the metrics in ``names`` only).
    """
    if fmt == "json":
        rows = [{k: (_finite(r[k]) if k in metrics.METRICS else r[k]) for k in FIELDS} for r in records]
        json.dump(rows, out, indent=1)
        out.write("\n")
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(FIELDS)
        for r in records:
            w.writerow(["" if r[k] is None else (repr(r[k]) if isinstance(r[k], float) else r[k]) for k in FIELDS])
    else:
        digits = {"psnr": 3, "wpsnr": 3, "ssim": 4, "msssim": 4}
        cols = ["dataset", "scale", "method", "image"] + [m for m in metrics.METRICS if m in names]
        body = [[str(r[c]) if c not in digits else f"{r[c]:.{digits[c]}f}" for c in cols] for r in records]
        width = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, width)).rstrip(), file=out)
        for row in body:
            print("  ".join(v.rjust(w) if c in digits or c == "scale" else v.ljust(w)
                            for v, w, c in zip(row, width, cols)).rstrip(), file=out)
