"""dynconv.sr.datasets and `dynconv data`: the inventory and checksums of the data folder."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynconv.sr import datasets as D
from dynconv.sr import datasets as S

from _cli import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def copy_of_set5(data_dir, tmp_path):
    """A data folder holding Set5 and its lines of the shipped SHA256SUMS."""
    root = tmp_path / "data"
    shutil.copytree(data_dir / "Set5", root / "Set5")
    lines = [ln for ln in (data_dir / D.CHECKSUMS).read_text().splitlines() if "/Set5/" in ln]
    (root / D.CHECKSUMS).write_text("\n".join(lines) + "\n")
    return root


def dynconv(*args, env=None):
    full = {k: v for k, v in os.environ.items() if k != "DYNCONV_DATA"} | (env or {})
    return run_cli(*args, env=full)


@pytest.mark.data
def test_shipped_sets_listed_first_with_counts(data_dir):
    sets = S.list_sets(data_dir)
    assert [(s.name, s.images) for s in sets] == [("T91", 91), ("Set5", 5), ("Set14", 14)]
    assert all(s.path == data_dir / s.name for s in sets)


@pytest.mark.data
def test_shipped_checksums_hold(data_dir):
    r = S.verify(data_dir)
    assert r.ok and r.checked == 110 and r.unlisted == []


@pytest.mark.data
def test_checksums_cover_exactly_the_shipped_images(data_dir):
    listed = S.read_checksums(data_dir / D.CHECKSUMS)
    on_disk = {p.relative_to(data_dir).as_posix() for n in D.SHIPPED_SETS for p in D.list_images(n, data_dir)}
    assert set(listed) == on_disk
    some = sorted(listed)[0]
    assert hashlib.sha256((data_dir / some).read_bytes()).hexdigest() == listed[some]


@pytest.mark.data
def test_verify_names_altered_missing_and_unlisted_files(copy_of_set5):
    bird = copy_of_set5 / "Set5" / "bird.png"
    bird.write_bytes(bird.read_bytes() + b"\0")
    (copy_of_set5 / "Set5" / "head.png").unlink()
    (copy_of_set5 / "Mine").mkdir()
    shutil.copy(copy_of_set5 / "Set5" / "baby.png", copy_of_set5 / "Mine" / "x.png")
    r = S.verify(copy_of_set5)
    assert not r.ok
    assert r.mismatched == ["Set5/bird.png"] and r.missing == ["Set5/head.png"]
    assert r.unlisted == ["Mine/x.png"] and r.checked == 5


def test_verify_without_checksums_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        S.verify(tmp_path)


@pytest.mark.parametrize("line", ["not a checksum", "abc  ./x.png", "g" * 64 + "  ./x.png", "0" * 64 + "  "])
def test_malformed_checksum_file_names_file_and_line(tmp_path, line):
    f = tmp_path / "SHA256SUMS"
    f.write_text("0" * 64 + "  ./ok.png\n" + line + "\n")
    with pytest.raises(ValueError, match=re.escape(str(f)) + ":2:"):
        S.read_checksums(f)


def test_checksum_file_accepts_binary_marker(tmp_path):
    f = tmp_path / "SHA256SUMS"
    f.write_text("A" * 64 + " *./Set5/a.png\n")
    assert S.read_checksums(f) == {"Set5/a.png": "a" * 64}


# --------------------------------------------------------------------------- the command


@pytest.mark.data
def test_cli_data_list_shows_sets_counts_and_location(data_dir):
    out = dynconv("data", "list")
    assert out.returncode == 0, out.stderr
    assert f"data folder: {data_dir} (shipped)" in out.stdout
    for name, (count, _) in D.SHIPPED_SETS.items():
        assert re.search(rf"^{name}\s+{count}\s+{re.escape(str(data_dir / name))}$", out.stdout, re.M)


@pytest.mark.data
def test_cli_data_verify_ok_then_exit_1_naming_the_bad_file(copy_of_set5):
    ok = dynconv("data", "verify", "--data-dir", str(copy_of_set5))
    assert ok.returncode == 0 and "5 files OK" in ok.stdout, ok.stderr
    woman = copy_of_set5 / "Set5" / "woman.png"
    woman.write_bytes(b"x" + woman.read_bytes()[1:])
    bad = dynconv("data", "verify", "--data-dir", str(copy_of_set5))
    assert bad.returncode == 1
    assert "Set5/woman.png" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1].startswith("dynconv: error: 1 of 5 files")


def test_cli_data_env_pointing_nowhere_is_one_line(tmp_path):
    out = dynconv("data", "list", env={"DYNCONV_DATA": str(tmp_path / "nope")})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "DYNCONV_DATA" in out.stderr


@pytest.mark.data
def test_dataset_folder_path_still_works(copy_of_set5, tmp_path):
    out = dynconv("evaluate", "--method", "bicubic", "--dataset", str(copy_of_set5 / "Set5"), "--scale", "2",
                  "--metrics", "psnr", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert '"psnr": 33.66' in out.stdout


def test_nothing_points_outside_the_repository():
    """A fresh clone has nothing beside it: no tracked file may reach for the folder beside it."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    needles = ("../" + "shared", "shared" + "/data")  # spelled apart so this file does not match itself
    hits = []
    for f in files:
        p = REPO / f
        if p.suffix in {".py", ".md", ".toml", ".cfg", ".ipynb", ""} or f in {"Makefile", ".ci/run"}:
            if p.is_file() and p.stat().st_size < 5_000_000:
                text = p.read_text(errors="replace")
                if any(n in text for n in needles):
                    hits.append(f)
    assert hits == []


def _sum_line(path, name):
    return f"{hashlib.sha256(Path(path).read_bytes()).hexdigest()}  {name}\n"


@pytest.mark.data
@pytest.mark.parametrize("entry", ["abs", "dotdot", "dotdot-inner", "backslash"])
def test_checksum_entries_outside_the_folder_are_refused_unread(copy_of_set5, tmp_path, entry):
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the data\n")
    name = {"abs": str(secret), "dotdot": "../secret.txt", "dotdot-inner": "./Set5/../../secret.txt",
            "backslash": "Set5\\..\\..\\secret.txt"}[entry]
    with open(copy_of_set5 / D.CHECKSUMS, "a") as f:
        f.write(_sum_line(secret, name))
    with pytest.raises(ValueError, match=r"SHA256SUMS:\d+: .* is outside the data folder"):
        S.verify(copy_of_set5)


@pytest.mark.data
def test_a_listed_symlink_leading_out_of_the_folder_is_refused(copy_of_set5, tmp_path, capsys):
    from dynconv.cli import main

    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the data\n")
    (copy_of_set5 / "Set5" / "link.png").symlink_to(secret)
    with open(copy_of_set5 / D.CHECKSUMS, "a") as f:
        f.write(_sum_line(secret, "./Set5/link.png"))
    with pytest.raises(ValueError, match=r"'Set5/link.png' links outside the data folder"):
        S.verify(copy_of_set5)
    assert main(["data", "verify", "--data-dir", str(copy_of_set5), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dynconv: error:") and err.count("\n") == 1 and "links outside" in err
