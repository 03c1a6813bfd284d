"""dynconv.demo: the default model goes through the registry; the photo through ``dynconv.upscale``."""
from __future__ import annotations

import inspect

import numpy as np

from dynconv import demo, sr
from dynconv.photo.api import upscale
from dynconv.sr import image


def test_run_demo_needs_no_resolver_and_its_default_model_resolves(tmp_path):
    params = inspect.signature(demo.run_demo).parameters
    assert "resolve" not in params
    name, fn = sr.resolve(params["model"].default)
    assert name == "dcnn" and callable(fn)
    # The whole demo with bicubic beside bicubic (the CLI test runs it with the DCNN).
    lines = list(demo.run_demo(tmp_path / "d.png", model="bicubic"))
    assert lines[-1] == f"wrote {tmp_path / 'd.png'}" and (tmp_path / "d.png").stat().st_size > 10_000


def test_the_demo_upscales_its_low_resolution_photo_through_the_public_api(tmp_path, monkeypatch):
    calls = []

    def spy(image, scale, model="dcnn", **kw):
        calls.append((image.dtype, image.shape, scale, model))
        return upscale(image, scale, model, **kw)

    monkeypatch.setattr(demo, "upscale", spy)
    lines = list(demo.run_demo(tmp_path / "d.png", model="bicubic", scale=3.0))
    hr = image.modcrop(demo.sample_image(), 3)
    lr_shape = (hr.shape[0] // 3, hr.shape[1] // 3, 3)
    assert calls == [(np.uint8, lr_shape, 3.0, "bicubic")] * 2
    assert lines[0].split()[:2] == ["bicubic", "x3"]


def test_an_unwritable_output_is_refused_before_the_work(tmp_path, monkeypatch):
    import pytest

    def no_work():
        raise AssertionError("the demo started its work before checking --out")

    monkeypatch.setattr(demo, "sample_image", no_work)
    out = tmp_path / "missing" / "c.png"
    with pytest.raises(FileNotFoundError, match=rf"{out}: cannot be written: the folder .*missing does not exist"):
        next(demo.run_demo(out))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        next(demo.run_demo(tmp_path))
