"""Shared fixtures: a seeded ``rng``, the data folder (skip, or fail under DYNCONV_REQUIRE_DATA=1), a small
folder of images (``img_dir``)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from dynconv.sr import image as im


@pytest.fixture
def rng():
    """A local, seeded generator: every test is deterministic and independent of test order."""
    return np.random.default_rng(20261126)


@pytest.fixture(scope="session")
def data_dir():
    """The data folder (T91, Set5, Set14): the shipped ``data/`` unless ``DYNCONV_DATA`` says otherwise.

    Skips with the reason when absent (e.g. ``DYNCONV_DATA`` pointing elsewhere), unless
    ``DYNCONV_REQUIRE_DATA=1``: then absence fails.
    """
    from dynconv.sr.datasets import resolve_data_dir

    try:
        d = resolve_data_dir()
        missing = [s for s in ("T91", "Set5", "Set14") if not (d / s).is_dir()]
        if missing:
            raise FileNotFoundError(f"data folder {d} lacks {', '.join(missing)}")
    except FileNotFoundError as exc:
        if os.environ.get("DYNCONV_REQUIRE_DATA") == "1":
            pytest.fail(f"DYNCONV_REQUIRE_DATA=1 but the data is missing: {exc}")
        pytest.skip(f"data not available: {exc}")
    return d


@pytest.fixture(scope="session")
def small_set(tmp_path_factory, data_dir):
    """Three T91 images in a temporary folder (a data set is any folder of images)."""
    import shutil

    from dynconv.sr.datasets import list_images

    d = tmp_path_factory.mktemp("t3")
    for p in list_images("T91", data_dir)[:3]:
        shutil.copy(p, d / p.name)
    return d


@pytest.fixture
def img_dir(tmp_path, rng):
    """t1, t2, t10 (smooth random images, one grey) plus files that are not images."""
    d = tmp_path / "imgs"
    d.mkdir()
    for name, shape in [("t10", (50, 61, 3)), ("t2", (47, 40)), ("t1", (64, 45, 3))]:
        x = rng.uniform(0, 255, shape)
        Image.fromarray(im.to_uint8(x)).save(d / f"{name}.png")
    (d / "README.md").write_text("not an image")
    (d / "SHA256SUMS").write_text("")
    return d
