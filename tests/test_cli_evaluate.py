"""`dynconv evaluate`: formats, options and one-line errors."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dynconv import sr
from dynconv.cli import main

FIELDS = ["dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim"]


@pytest.fixture
def folder(tmp_path, rng):
    d = tmp_path / "pics"
    d.mkdir()
    for name, shape in [("a", (192, 200, 3)), ("b", (190, 186))]:
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(d / f"{name}.png")
    return d


def run(capsys, *argv):
    rc = main(["evaluate", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_records_are_the_stable_format(capsys, folder):
    rc, out, _ = run(capsys, "--dataset", folder, "--scale", "2", "3", "--format", "json")
    assert rc == 0
    recs = json.loads(out)
    assert [list(r) for r in recs] == [FIELDS, FIELDS]
    assert [(r["scale"], r["image"], r["method"]) for r in recs] == [(2, "mean", "bicubic"), (3, "mean", "bicubic")]
    expected = sr.evaluate([folder], [2, 3])
    assert recs[0]["psnr"] == pytest.approx([r for r in expected if r["image"] == "mean"][0]["psnr"], rel=1e-15)


def test_per_image_and_metric_subset(capsys, folder):
    rc, out, _ = run(capsys, "--dataset", folder, "--scale", "2", "--per-image", "--metrics", "psnr,ssim",
                     "--format", "json")
    recs = json.loads(out)
    assert rc == 0 and [r["image"] for r in recs] == ["a", "b", "mean"]
    assert all(r["wpsnr"] is None and r["msssim"] is None and r["psnr"] > 0 for r in recs)


def test_csv_format(capsys, folder):
    rc, out, _ = run(capsys, "--dataset", folder, "--scale", "3", "--per-image", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and list(rows[0]) == FIELDS
    assert [r["image"] for r in rows] == ["a", "b", "mean"]
    assert float(rows[2]["ssim"]) == pytest.approx((float(rows[0]["ssim"]) + float(rows[1]["ssim"])) / 2)


def test_table_format(capsys, folder):
    rc, out, _ = run(capsys, "--dataset", folder, "--scale", "2", "--metrics", "psnr")
    lines = out.strip().splitlines()
    assert rc == 0 and lines[0].split() == ["dataset", "scale", "method", "image", "psnr"]
    assert len(lines) == 2 and lines[1].split()[1:4] == ["2", "bicubic", "mean"]


@pytest.mark.parametrize(
    "argv, match",
    [(["--dataset", "Set99"], "unknown data set 'Set99'"),
     (["--metrics", "psnr,lpips"], "--metrics: unknown metric"),
     (["--method", "srgan"], "unknown method 'srgan'"),
     (["--data-dir", "/nonexistent/dir", "--dataset", "Set5"], "/nonexistent/dir")],
)
def test_errors_are_one_line(capsys, folder, argv, match):
    if "--dataset" not in argv:
        argv = ["--dataset", str(folder), *argv]
    rc, out, err = run(capsys, *argv)
    assert rc == 1 and out == ""
    assert err.startswith("dynconv: error: ") and match in err and err.count("\n") == 1


def test_a_bad_scale_is_a_usage_error_as_for_upscale(capsys, folder):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--dataset", str(folder), "--scale", "0.5"])
    assert exit_.value.code == 2
    assert "argument --scale: scale must be between 1 and 16, got 0.5" in capsys.readouterr().err


def test_bad_image_in_folder_names_the_file(capsys, folder):
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    rc, _, err = run(capsys, "--dataset", folder, "--scale", "2")
    assert rc == 1 and "c.png" in err and err.count("\n") == 1


def test_bad_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--format", "xml"])
    assert exc.value.code == 2


def test_help_through_the_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "dynconv", "evaluate", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    assert "--per-image" in r.stdout and "{table,csv,json}" in r.stdout


@pytest.mark.data
def test_set5_json_matches_table1_means(capsys, data_dir):
    rc, out, _ = run(capsys, "--dataset", "Set5", "--scale", "2", "3", "4", "--metrics", "psnr",
                     "--format", "json", "--data-dir", data_dir)
    got = [r["psnr"] for r in json.loads(out)]
    assert rc == 0
    np.testing.assert_allclose(got, [33.662, 30.394, 28.422], atol=0.005)


def test_a_library_error_naming_a_parameter_reads_as_its_flag(capsys, tmp_path):
    # dynconv.data says `data_dir`; the command-line user typed --data-dir
    rc, _, err = run(capsys, "--dataset", "Set5", "--scale", "2", "--data-dir", tmp_path / "nowhere")
    assert rc == 1 and err.count("\n") == 1
    assert "--data-dir" in err and "is not a directory" in err and "`" not in err
