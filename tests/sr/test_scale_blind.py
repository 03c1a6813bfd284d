"""Network B sees only the pixels: every entry point that takes a scale factor gives the
content-only DCNNs' output bit for bit whatever factor it is told, or none."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import sr
from dynconv.sr import inference, models

from _models import REACH, SMALL, randomise_b

TOLD = [None, 2, 3, 1.5, 3.7, 16]


@pytest.fixture(scope="module")
def small_dcnn():
    m = models.dcnn(**SMALL, **REACH, b_spectrum=[6.0, 3.0, 2.2, 2.0], residual=True, seed=4)
    randomise_b(m, np.random.default_rng(4))
    return m


def _same(outputs):
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


def test_predict_ignores_the_scale(small_dcnn, rng):
    up = rng.random((47, 52))
    _same([small_dcnn.predict(up, s) for s in TOLD])
    _same([inference.predict(small_dcnn, up, s, tile=24) for s in TOLD])


def test_window_kernels_ignore_the_scale(small_dcnn, rng):
    up = rng.random((40, 40))
    _same([np.concatenate([k.ravel(), b]) for k, b in (inference.window_kernels(small_dcnn, up, s) for s in TOLD)])


def test_graph_feeds_hold_no_scale(small_dcnn, rng):
    x = rng.random((2, 1, 33, 33)).astype(np.float32)
    for s in TOLD:
        assert set(small_dcnn.feeds(x, s)) == {"x"}
    _same([small_dcnn.graph.forward(small_dcnn.feeds(x, s), outputs=[small_dcnn.output], keep_cache=False)[small_dcnn.output] for s in TOLD])


@pytest.mark.parametrize("name", ["dcnn", "dcnn-x234"])
def test_shipped_dcnns_ignore_the_scale_through_the_registry(name, rng):
    """``sr.resolve`` is what evaluate, reproduce, upscale and the demo call the model through."""
    up = rng.random((36, 40)) * 255
    _, f = sr.resolve(name)
    _same([f(up, s) for s in TOLD])
    model = sr.load_model(name)
    assert model.config["variant"] == "image" and set(model.feeds(np.zeros((1, 1, 33, 33), np.float32), 3)) == {"x"}


@pytest.mark.parametrize("told", [None, 3.7])
def test_the_upscale_api_and_command_give_the_same_bytes_whatever_the_model_is_told(small_dcnn, told, tmp_path,
                                                                                   monkeypatch, rng):
    """The factor an upscale asks for sets the output size; whatever factor then reaches the
    model (every feed goes through ``Model.feeds``) changes nothing."""
    import dynconv
    from dynconv import cli

    path = tmp_path / "small.npz"
    small_dcnn.save(path)
    lr = (rng.random((23, 29, 3)) * 255).astype(np.uint8)
    from PIL import Image

    Image.fromarray(lr).save(tmp_path / "in.png")
    honest = dynconv.upscale(lr, 2.5, model=str(path))
    assert cli.main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "a.png"), "--scale", "2.5",
                     "--model", str(path)]) == 0
    feeds = models.Model.feeds
    monkeypatch.setattr(models.Model, "feeds", lambda self, x, scale=None: feeds(self, x, told))
    np.testing.assert_array_equal(dynconv.upscale(lr, 2.5, model=str(path)), honest)
    assert cli.main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "b.png"), "--scale", "2.5",
                     "--model", str(path)]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
