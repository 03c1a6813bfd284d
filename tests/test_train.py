"""dynconv.train: configs, determinism, resume, failure handling, and a real (short) run."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from dynconv import checkpoint, models, train
from dynconv.data import TrainingPatches, list_images


def _config(**sections):
    cfg = train.merge(train.DEFAULTS, {
        "model": {"arch": "srcnn", "n1": 8, "n2": 4, "residual": True},
        "train": {"steps": 12, "batch_size": 8, "lr": 1e-3},
        "eval": {"every": 0, "final_datasets": ["Set5"]},
        "checkpoint": {"every_minutes": 0.0},
    })
    return train.merge(cfg, sections)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, data_dir):
    """Three T91 images in a temporary folder (a data set is any folder of images)."""
    d = tmp_path_factory.mktemp("t3")
    for p in list_images("T91", data_dir)[:3]:
        shutil.copy(p, d / p.name)
    return d


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nsteps = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        train.load_config(bad)
    bad.write_text("[train]\nstepz = 3\n")
    with pytest.raises(ValueError, match=r"config.train: unknown key 'stepz'"):
        train.load_config(bad)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        train.load_config(tmp_path / "missing.toml")


def test_shipped_configs_load_and_build():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    files = sorted(root.rglob("*.toml"))  # shipped models' configs, and ablations/
    assert len(files) >= 8
    for f in files:
        cfg = train.load_config(f)
        model = models.build(train._model_kwargs(cfg))
        train.make_optimizer(model, cfg["train"])


def test_shipped_architectures_match_their_configs():
    """``dynconv models`` describes each shipped name by SHIPPED_ARCHITECTURES: it must be the
    architecture ``configs/<name>.toml`` trains."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    for name, arch in models.SHIPPED_ARCHITECTURES.items():
        want = models.build(train._model_kwargs(train.load_config(root / f"{name}.toml"))).config
        got = models.build(arch).config
        drop = ("seed",)
        assert {k: v for k, v in got.items() if k not in drop} == \
            {k: v for k, v in want.items() if k not in drop}, name


def test_batches_are_a_function_of_the_step(rng):
    p = TrainingPatches(rng.random((50, 1, 9, 9), dtype=np.float32), rng.random((50, 1, 5, 5), dtype=np.float32),
                        np.full(50, 2, np.float32))
    a, b = train.Batches(p, 8, seed=1, augment=True), train.Batches(p, 8, seed=1, augment=True)
    for t in (0, 5, 6, 13):  # 6 batches per epoch: 13 is in epoch 2
        for u, v in zip(a(t), b(t)):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a(0)[0], a(1)[0])
    assert not np.array_equal(a(0)[0], train.Batches(p, 8, seed=2, augment=True)(0)[0])


@pytest.mark.data
def test_resume_continues_exactly(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]})
    full = train.train(cfg, tmp_path / "full", progress=False)
    part = train.train(cfg, tmp_path / "part", progress=False, max_steps=5)
    assert part["status"] == "max_steps" and part["step"] == 5
    rest = train.train(cfg, tmp_path / "part", progress=False, resume=tmp_path / "part" / "checkpoint.npz")
    assert rest["step"] == full["step"] == 12
    a = checkpoint.load(tmp_path / "full" / "checkpoint.npz")
    b = checkpoint.load(tmp_path / "part" / "checkpoint.npz")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


def test_scale_weights_equalise_each_scales_relative_error(rng):
    """Weights ∝ 1 / (bicubic MSE per scale), mean 1 over the samples."""
    n = {2: 30, 3: 20, 4: 10}
    sd = {2: 0.01, 3: 0.02, 4: 0.04}  # each scale's bicubic error
    inputs, labels, scales = [], [], []
    for s, k in n.items():
        y = rng.random((k, 1, 5, 5)).astype(np.float32)
        x = np.pad(y, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
        x[:, :, 2:-2, 2:-2] += rng.choice([-sd[s], sd[s]], size=y.shape).astype(np.float32)
        inputs.append(x), labels.append(y), scales.append(np.full(k, s, np.float32))
    patches = TrainingPatches(np.concatenate(inputs), np.concatenate(labels), np.concatenate(scales))
    w = train.scale_weights(patches)
    assert set(w) == {2.0, 3.0, 4.0}
    np.testing.assert_allclose(sum(w[s] * k for s, k in n.items()) / 60, 1.0, rtol=1e-6)
    np.testing.assert_allclose([w[2.0] / w[3.0], w[3.0] / w[4.0]], [4.0, 4.0], rtol=1e-4)
    one = TrainingPatches(inputs[0], labels[0], scales[0])  # a single scale: weight 1, no change
    assert train.scale_weights(one) == pytest.approx({2.0: 1.0})


@pytest.mark.data
def test_balanced_scales_reweight_the_gradient_not_the_logged_loss(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [2, 4]}, train={"steps": 3})
    train.train(cfg, tmp_path / "plain", progress=False)
    cfg["train"]["balance_scales"] = True
    balanced = train.train(cfg, tmp_path / "balanced", progress=False)
    a = checkpoint.load(tmp_path / "plain" / "checkpoint.npz").params
    b = checkpoint.load(tmp_path / "balanced" / "checkpoint.npz").params
    assert balanced["status"] == "done"
    assert any(not np.array_equal(a[k], b[k]) for k in a)  # the same batches, other updates


@pytest.mark.data
def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]},
                  train={"lr": 1e6, "optimizer": "sgd", "momentum": 0.0, "schedule": "constant", "steps": 400})
    with pytest.raises(train.TrainingError, match=r"loss became (nan|inf) at step \d+; stopping"):
        train.train(cfg, tmp_path / "run", progress=False)
    ckpt = checkpoint.load(tmp_path / "run" / "checkpoint.npz")  # intact and loadable
    assert all(np.isfinite(v).all() for v in ckpt.params.values())


@pytest.mark.data
def test_ctrl_c_writes_a_checkpoint(tmp_path, small_set, monkeypatch):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]}, checkpoint={"every_minutes": 60.0})
    real = train.Batches.__call__

    def interrupt_at_7(self, t):
        if t == 7:
            raise KeyboardInterrupt
        return real(self, t)

    monkeypatch.setattr(train.Batches, "__call__", interrupt_at_7)
    result = train.train(cfg, tmp_path / "run", progress=False)
    assert result["status"] == "interrupted" and result["step"] == 7
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz").step == 7


@pytest.mark.data
def test_short_run_lowers_the_loss_and_beats_bicubic(tmp_path, small_set, data_dir):
    """About a minute of training on three T91 images beats bicubic on a held-out image."""
    from dynconv import image, metrics, sr

    cfg = _config(model={"n1": 32, "n2": 16}, data={"dataset": str(small_set), "scales": [3]},
                  train={"steps": 300, "batch_size": 32, "lr": 2e-3}, eval={"every": 150})
    result = train.train(cfg, tmp_path / "run", progress=False)
    assert result["status"] == "done"
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    losses = [float(line.split(",")[2]) for line in log[1:]]
    assert losses[-1] < losses[0]
    model = models.Model.load(tmp_path / "run" / "model.npz")
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
    held_out = image.read_image(list_images("T91", data_dir)[10])[:120, :120]
    ref, bic, _ = sr.super_resolve(held_out, 3, "bicubic")
    _, net, _ = sr.super_resolve(held_out, 3, model)
    assert metrics.psnr(ref, net, shave=3) > metrics.psnr(ref, bic, shave=3) + 0.2
    scores = model.meta["scores"]["Set5"]["x3"]
    assert scores["psnr"] > 30.39  # Set5 x3 bicubic is 30.39 dB
