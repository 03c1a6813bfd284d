"""train.init: a run starts from another model's weights; a B that gained features starts as the
old model exactly, and the header adds up the training time."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import checkpoint
from dynconv.sr import models
from dynconv.training import train
from dynconv.training.warmstart import init_info, resolve_init, warm_start

from _models import REACH, SMALL, randomise_b

SPECTRUM = [6.0, 4.5, 3.3, 2.5, 2.0]


@pytest.fixture
def parent(tmp_path, rng):
    m = models.dcnn(**SMALL, **REACH, residual=True, seed=1)
    randomise_b(m, rng)
    path = tmp_path / "parent.npz"
    m.save(path, step=70, meta={"training_wall_seconds": 100.0, "init": {"training_wall_seconds": 20.0}})
    return m, path


def test_a_grown_b_starts_as_the_parent_exactly(parent, rng):
    old, path = parent
    new = models.dcnn(**SMALL, **REACH, b_spectrum=SPECTRUM, residual=True, seed=2)
    info = warm_start(new, str(path))
    assert info["grown"] == ["b_fc1.w"] and info["step"] == 70
    assert info["training_wall_seconds"] == 120.0  # the parent's own time plus its parent's
    w_old, w_new = old.graph.nodes["b_fc1"].layer.params["w"], new.graph.nodes["b_fc1"].layer.params["w"]
    np.testing.assert_array_equal(w_new[:, :w_old.shape[1]], w_old)
    assert not w_new[:, w_old.shape[1]:].any()
    x = rng.random((3, 1, 33, 33)).astype(np.float32)
    np.testing.assert_allclose(new.graph.forward({"x": x}, outputs=[new.output], keep_cache=False)[new.output],
                               old.graph.forward({"x": x}, outputs=[old.output], keep_cache=False)[old.output], rtol=0, atol=1e-6)


def test_a_mismatch_names_the_parameter(parent):
    _, path = parent
    with pytest.raises(ValueError, match=r"conv1\.w has shape"):
        warm_start(models.dcnn(n1=16, n2=4, **REACH, residual=True), str(path))
    with pytest.raises(ValueError, match="a dcnn model cannot start a srcnn run"):
        warm_start(models.srcnn(**SMALL), str(path))
    with pytest.raises(ValueError, match="no parameter"):
        warm_start(models.dcnn(**SMALL, b_log=True, b_periods=[2, 3, 4], dynamic_layers=["conv3"],
                               residual=True, variant="scale"), str(path))


def test_init_info_of_a_model_trained_from_scratch(tmp_path):
    m = models.srcnn(**SMALL)
    m.save(tmp_path / "m.npz", step=5, meta={"training_wall_seconds": 7.5})
    assert init_info(str(tmp_path / "m.npz")) == {"name": str(tmp_path / "m.npz"), "step": 5,
                                                  "training_wall_seconds": 7.5}


def test_init_may_name_a_run_folder_meaning_its_model(tmp_path):
    """`dynconv train --init OUT/job` (what `dynconv retrain` passes a child) loads OUT/job/model.npz."""
    src = models.srcnn(**SMALL)
    (tmp_path / "run").mkdir()
    src.save(tmp_path / "run" / "model.npz", step=9, meta={"training_wall_seconds": 2.0})
    dst = models.srcnn(**SMALL, seed=5)
    info = warm_start(dst, str(tmp_path / "run"))
    assert info["name"] == str(tmp_path / "run" / "model.npz") and info["step"] == 9
    for (_, p, _), (_, q, _) in zip(dst.graph.parameters(), src.graph.parameters()):
        np.testing.assert_array_equal(p, q)
    assert resolve_init("dcnn-x234") == "dcnn-x234"  # a shipped name is never taken as a folder


@pytest.mark.data
def test_an_any_factor_run_from_init_resumes_exactly_and_records_its_origin(tmp_path, small_set, parent):
    _, path = parent
    cfg = train.merge(train.DEFAULTS, {
        "model": {"arch": "dcnn", **SMALL, **REACH, "b_spectrum": SPECTRUM, "residual": True},
        "data": {"dataset": str(small_set), "scales": [2], "scale_range": [1.5, 2.5], "fixed_share": 0.5},
        "train": {"steps": 6, "batch_size": 4, "lr": 1e-4, "init": str(path), "balance_scales": True},
        "eval": {"every": 0, "final_datasets": ["Set5"], "scales": [1.5, 2]},
        "checkpoint": {"every_minutes": 0.0}})
    full = train.train(cfg, tmp_path / "full", progress=False)
    train.train(cfg, tmp_path / "part", progress=False, max_steps=3)
    train.train(cfg, tmp_path / "part", progress=False, resume=tmp_path / "part" / "checkpoint.npz")
    a = checkpoint.load(tmp_path / "full" / "checkpoint.npz")
    b = checkpoint.load(tmp_path / "part" / "checkpoint.npz")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
    assert set(full["scores"]["Set5"]) == {"x1.5", "x2"}
    meta = models.Model.load(tmp_path / "full" / "model.npz").meta
    assert meta["init"]["name"] == str(path) and meta["init"]["training_wall_seconds"] == 120.0


def test_config_checks_the_new_keys():
    base = train.DEFAULTS
    for section, key, value, what in [("data", "scale_range", [3, 2], "lo <= hi"),
                                      ("data", "scale_range", [1.0, 2], "lo <= hi"),
                                      ("data", "fixed_share", 1.5, "a number in"),
                                      ("train", "init", 3, "a model name"),
                                      ("eval", "scales", [0.5], "scale factors")]:
        cfg = train.merge(base, {"model": {"arch": "srcnn"}, section: {key: value}})
        with pytest.raises(train.ConfigError, match=f"{section}.{key} must be .*{what}"):
            train.validate(cfg)


def test_an_unknown_init_is_refused_before_any_work(tmp_path, small_set):
    cfg = train.merge(train.DEFAULTS, {"model": {"arch": "srcnn", **SMALL},
                                       "data": {"dataset": str(small_set)},
                                       "train": {"init": str(tmp_path / "nope.npz")}})
    with pytest.raises(train.ConfigError, match="train.init: model file not found"):
        train.train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_added_mapping_layers_start_as_the_parent_exactly(parent, rng):
    old, path = parent
    new = models.dcnn(**SMALL, **REACH, mapping=[3, 1], residual=True, seed=2)
    info = warm_start(new, str(path))
    assert info["added"] == ["map1.w", "map1.b", "map2.w", "map2.b"] and info["grown"] == []
    x = rng.random((3, 1, 33, 33)).astype(np.float32)
    y_old = old.graph.forward({"x": x}, outputs=[old.output], keep_cache=False)[old.output]
    y_new = new.graph.forward({"x": x}, outputs=[new.output], keep_cache=False)[new.output]
    assert y_new.shape[-1] == y_old.shape[-1] - 2  # one 3x3 valid layer more
    np.testing.assert_allclose(y_new, y_old[..., 1:-1, 1:-1], rtol=0, atol=1e-6)


def test_a_missing_parameter_outside_the_mapping_layers_is_still_an_error(tmp_path):
    src = models.dcnn(**SMALL, mapping=[3], residual=True)
    src.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="parameters this model does not have: map1"):
        warm_start(models.dcnn(**SMALL, residual=True), str(tmp_path / "m.npz"))
