"""Checkpoints: bit-exact round trip, optimizer state, every corruption case, atomic saves."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dynconv import checkpoint
from dynconv.checkpoint import CheckpointError, load, save
from dynconv.graph import Graph
from dynconv.layers import Conv2D, ReLU
from dynconv.optim import Adam, SGD


def make_graph(rng, f=3, dtype=np.float32):
    g = Graph(inputs=["x"], outputs=["conv2"])
    g.add("conv1", Conv2D(1, f, 3, rng=rng, dtype=dtype), inputs=["x"])
    g.add("relu", ReLU(), inputs=["conv1"])
    g.add("conv2", Conv2D(f, 1, 3, rng=rng, dtype=dtype), inputs=["relu"])
    return g


def params_of(g):
    return {n: p for n, p, _ in g.parameters()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_exact(dtype, rng, tmp_path):
    g = make_graph(rng, dtype=dtype)
    for _, p, _ in g.parameters():
        p[...] = rng.standard_normal(p.shape)
    path = save(tmp_path / "ck.npz", g, config={"model": "tiny", "f": 3}, step=42)
    ck = load(path)
    assert (ck.config, ck.step, ck.dtype, ck.version) == ({"model": "tiny", "f": 3}, 42, np.dtype(dtype).name, 1)
    assert ck.optimizer is None
    fresh = make_graph(rng, dtype=dtype)
    load(path, into=fresh)
    for n, p in params_of(g).items():
        assert ck.params[n].dtype == dtype
        np.testing.assert_array_equal(ck.params[n], p)
        np.testing.assert_array_equal(params_of(fresh)[n], p)


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_optimizer_state_round_trip(opt_cls, rng, tmp_path):
    g = make_graph(rng)
    opt = opt_cls(g, lr=0.01, groups={"conv2.*": {"lr": 0.001}}) if opt_cls is Adam else \
        SGD(g, lr=0.01, momentum=0.9, groups={"conv2.*": {"lr": 0.001}})
    for _ in range(3):
        for _, _, d in g.parameters():
            d[...] = rng.standard_normal(d.shape)
        opt.step()
    save(tmp_path / "ck.npz", g, step=3, optimizer=opt)
    g2 = make_graph(rng)
    opt2 = opt_cls(g2, lr=0.01)
    ck = load(tmp_path / "ck.npz", into=g2, optimizer=opt2)
    assert opt2.step_count == 3 and ck.optimizer["type"] == opt_cls.__name__
    assert ck.optimizer["hyper"]["groups"] == [["conv2.*", {"lr": 0.001}]]
    for name, bufs in opt.buffers.items():
        for kind, v in bufs.items():
            np.testing.assert_array_equal(opt2.buffers[name][kind], v)


@pytest.mark.parametrize("other, match", [
    (lambda rng: make_graph(rng, f=4), r"mis-shaped parameter\(s\) conv1.w: file \(3, 1, 3, 3\) vs model \(4, 1, 3, 3\)"),
    (lambda rng: Conv2D(1, 3, 3, rng=rng), r"missing parameter\(s\) \['b', 'w'\]; extra parameter\(s\) \['conv1.b'"),
])
def test_mismatched_model_is_one_clear_error_and_nothing_changes(other, match, rng, tmp_path):
    save(tmp_path / "ck.npz", make_graph(rng))
    target = other(rng)
    before = {n: p.copy() for n, p, _ in target.parameters()}
    with pytest.raises(CheckpointError, match=match):
        load(tmp_path / "ck.npz", into=target)
    for n, p, _ in target.parameters():
        np.testing.assert_array_equal(p, before[n])


def test_missing_extra_parameters_named(rng, tmp_path):
    g = make_graph(rng)
    params = params_of(g)
    save(tmp_path / "less.npz", {k: v for k, v in params.items() if k != "conv2.b"})
    with pytest.raises(CheckpointError, match=r"missing parameter\(s\) \['conv2.b'\]"):
        load(tmp_path / "less.npz", into=g)
    save(tmp_path / "more.npz", {**params, "conv3.w": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match=r"extra parameter\(s\) \['conv3.w'\]"):
        load(tmp_path / "more.npz", into=g)


def write_raw(path, header, arrays):
    np.savez(path, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)


@pytest.mark.parametrize("mutate, match", [
    (lambda h, a: h.update(version=99), "unsupported checkpoint version 99"),
    (lambda h, a: h.update(format="other"), "not a dynconv checkpoint"),
    (lambda h, a: a.pop("param/w"), "corrupt checkpoint: the header lists parameters"),
    (lambda h, a: a.update({"param/w": np.zeros(3, np.float32)}), "corrupt checkpoint"),
    (lambda h, a: h.update(params=None), "corrupt header: 'params' must be a JSON object, got null"),
    (lambda h, a: h.update(step="40"), "corrupt header: 'step' must be a JSON int, got \"40\""),
    (lambda h, a: h.update(step=-1), "'step' must be >= 0"),
    (lambda h, a: h.update(config=[]), "'config' must be a JSON object, got \\[\\]"),
    (lambda h, a: h.update(params={"w": "2"}), "the shape of 'w' must be a list of sizes"),
    (lambda h, a: a.update({"param/w": np.array([1.0, np.nan], np.float32)}), r"parameter\(s\) w are not finite"),
    (lambda h, a: a.update({"param/w": np.array([1, 2], np.int64)}), r"parameter\(s\) w are not finite floating"),
])
def test_bad_header_or_contents(mutate, match, tmp_path):
    header = {"format": "dynconv-checkpoint", "version": 1, "config": {}, "dtype": "float32",
              "step": 0, "params": {"w": [2]}, "optimizer": None}
    arrays = {"param/w": np.zeros(2, np.float32)}
    mutate(header, arrays)
    write_raw(tmp_path / "ck.npz", header, arrays)
    with pytest.raises(CheckpointError, match=match):
        load(tmp_path / "ck.npz")


def test_npz_without_header(tmp_path):
    np.savez(tmp_path / "ck.npz", w=np.zeros(2))
    with pytest.raises(CheckpointError, match="no __header__ entry"):
        load(tmp_path / "ck.npz")


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_truncated_or_corrupt_file(damage, rng, tmp_path):
    path = save(tmp_path / "ck.npz", make_graph(rng))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":  # inside the first parameter's data: caught by the zip CRC
        i = data.index(b"param/conv1.w.npy") + 200
        data[i:i + 8] = bytes(b ^ 0xFF for b in data[i:i + 8])
    elif damage == "garbage":
        data = bytearray(b"not a zip file at all" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nope.npz")


def test_failed_save_keeps_old_file_and_leaves_no_temp(rng, tmp_path, monkeypatch):
    g = make_graph(rng)
    path = save(tmp_path / "ck.npz", g, step=1)
    old = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    for _, p, _ in g.parameters():
        p += 1
    with pytest.raises(OSError, match="disk full"):
        save(path, g, step=2)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save(path, g, config={"bad": object()})
    assert path.read_bytes() == old
    assert load(path).step == 1
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_load_uses_no_pickle(tmp_path):
    np.savez(tmp_path / "ck.npz", __header__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load(tmp_path / "ck.npz")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_parameters_are_never_written(bad, rng, tmp_path):
    g = make_graph(rng)
    path = save(tmp_path / "ck.npz", g, step=40)
    old = path.read_bytes()
    params_of(g)["conv2.b"][0] = bad
    with pytest.raises(CheckpointError, match=r"not written: parameter\(s\) conv2.b hold NaN or inf"):
        save(path, g, step=41)
    assert path.read_bytes() == old and sorted(os.listdir(tmp_path)) == ["ck.npz"]


def stepped_adam(rng):
    """A graph and an Adam optimizer after one step, so its buffers hold values."""
    g = make_graph(rng)
    opt = Adam(g, lr=0.01)
    for _, _, d in g.parameters():
        d[...] = 1.0
    opt.step()
    return g, opt


def test_non_finite_optimizer_state_is_never_written(rng, tmp_path):
    g, opt = stepped_adam(rng)
    buffers = opt.state_dict()["buffers"]
    name = sorted(buffers)[0]
    monkey = {**opt.state_dict(), "buffers": {**buffers, name: np.full_like(buffers[name], np.inf)}}
    opt.state_dict = lambda: monkey
    with pytest.raises(CheckpointError, match=rf"optimizer buffer\(s\) {name} hold NaN or inf"):
        save(tmp_path / "ck.npz", g, optimizer=opt)
    assert not (tmp_path / "ck.npz").exists()


def test_a_file_with_non_finite_optimizer_buffers_is_refused_on_load(rng, tmp_path):
    """save never writes one, so such a file was damaged later: it is never a state to resume."""
    g, opt = stepped_adam(rng)
    path = save(tmp_path / "ck.npz", g, step=1, optimizer=opt)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    name = sorted(k for k in arrays if k.startswith("optim/"))[0]
    arrays[name] = np.full_like(arrays[name], np.nan)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=rf"ck.npz: optimizer buffer\(s\) {name[6:]} hold NaN or inf"):
        load(path)
    g2 = make_graph(rng)
    before = {n: p.copy() for n, p in params_of(g2).items()}
    with pytest.raises(CheckpointError):
        load(path, into=g2, optimizer=Adam(g2, lr=0.01))
    assert all(np.array_equal(before[n], p) for n, p in params_of(g2).items())
