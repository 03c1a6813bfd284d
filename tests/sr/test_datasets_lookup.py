"""dynconv.sr.datasets: where the data folder is (data_dir, DYNCONV_DATA, the shipped copy), and
listing and loading a data set."""
from __future__ import annotations

import pytest

from dynconv.sr import datasets


def test_list_images_natural_order_ignores_other_files(img_dir):
    assert [p.name for p in datasets.list_images(img_dir)] == ["t1.png", "t2.png", "t10.png"]


def test_dataset_by_name_under_data_dir(img_dir):
    assert datasets.dataset_dir("imgs", data_dir=img_dir.parent) == img_dir
    assert "imgs" in datasets.list_datasets(img_dir.parent)


def test_unknown_dataset_name_is_a_clear_error(img_dir):
    with pytest.raises(ValueError, match=r"unknown data set 'Set99'.*known: imgs"):
        datasets.list_images("Set99", data_dir=img_dir.parent)


def test_missing_dataset_path_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        datasets.list_images(tmp_path / "nowhere")


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        datasets.list_images(tmp_path / "empty")


def test_explicit_missing_data_dir_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="`data_dir`"):
        datasets.resolve_data_dir(tmp_path / "nope")


def test_lookup_order_data_dir_then_env_then_shipped(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("DYNCONV_DATA", str(b))
    assert datasets.resolve_data_dir(a) == a
    assert datasets.resolve_data_dir() == b
    assert datasets.data_dir_source() == ("DYNCONV_DATA", b)
    monkeypatch.delenv("DYNCONV_DATA")
    assert datasets.data_dir_source() == ("shipped", datasets.shipped_data_dir())
    assert datasets.resolve_data_dir() == datasets.shipped_data_dir()


def test_env_pointing_nowhere_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNCONV_DATA", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=r"DYNCONV_DATA=.*nope.*is not a directory.*unset it"):
        datasets.resolve_data_dir()


def test_no_shipped_data_names_each_place_once_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("DYNCONV_DATA", raising=False)
    places = (tmp_path / "pkg" / "shipped_data", tmp_path / "repo" / "data", tmp_path / "repo" / "data")
    (tmp_path / "repo" / "data").mkdir(parents=True)  # a data/ without SHA256SUMS is not the shipped copy
    monkeypatch.setattr(datasets, "SHIPPED_DATA_DIRS", places)
    assert datasets.shipped_data_dir() is None
    with pytest.raises(FileNotFoundError) as err:
        datasets.resolve_data_dir()
    msg = str(err.value)
    for place in places:
        assert msg.count(str(place)) == 1
    assert "`data_dir`" in msg and "DYNCONV_DATA" in msg and "reinstall" in msg


def test_the_shipped_data_are_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv("DYNCONV_DATA", raising=False)
    root = datasets.shipped_data_dir()
    assert root is not None and (root / datasets.CHECKSUMS).is_file()
    for name, (count, _) in datasets.SHIPPED_SETS.items():
        assert len(datasets.list_images(name)) == count


def test_load_dataset_names_and_arrays(img_dir):
    loaded = datasets.load_dataset(img_dir)
    assert [n for n, _ in loaded] == ["t1", "t2", "t10"]
    assert [a.shape for _, a in loaded] == [(64, 45, 3), (47, 40), (50, 61, 3)]


def test_load_dataset_names_a_bad_file(img_dir):
    (img_dir / "t3.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="t3.png: not an image"):
        datasets.load_dataset(img_dir)


@pytest.mark.data
def test_data_sets_are_where_the_readme_says(data_dir):
    assert [p.stem for p in datasets.list_images("Set5", data_dir)] == ["baby", "bird", "butterfly", "head", "woman"]
    assert len(datasets.list_images("Set14", data_dir)) == 14
    assert len(datasets.list_images("T91", data_dir)) == 91
