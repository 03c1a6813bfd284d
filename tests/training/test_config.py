"""dynconv.training.config: every key checked against the schema, errors naming the key; what a resume may change."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dynconv.training import config as C

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.toml"))


@pytest.fixture
def cfg():
    return C.merge(C.DEFAULTS, {})


def _with(cfg, section, key, value):
    c = copy.deepcopy(cfg)
    c[section][key] = value
    return c


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_is_valid(path):
    C.load_config(path)


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "lr", "fast", 'train.lr must be a positive number, got "fast"'),
    ("train", "lr", -1e-3, "train.lr must be a positive number, got -0.001"),
    ("train", "lr", float("nan"), "train.lr must be a positive number, got nan"),
    ("train", "batch_size", 0, "train.batch_size must be an integer >= 1, got 0"),
    ("train", "batch_size", 16.5, "train.batch_size must be an integer >= 1, got 16.5"),
    ("train", "batch_size", True, "train.batch_size must be an integer >= 1, got true"),
    ("train", "steps", "40", 'train.steps must be an integer >= 1, got "40"'),
    ("data", "scales", 2, "data.scales must be a non-empty list of distinct scale factors"),
    ("data", "scales", [], "data.scales must be a non-empty list"),
    ("data", "scales", [2, 2], "data.scales must be a non-empty list of distinct"),
    ("data", "scales", [1], "data.scales must be"),
    ("data", "augment", "yes", 'data.augment must be true or false, got "yes"'),
    ("data", "degradation", "blur", "data.degradation must be one of 'bicubic', 'gaussian'"),
    ("eval", "every", -1, "eval.every must be an integer >= 0, got -1"),
    ("eval", "dataset", "", 'eval.dataset must be a non-empty string, got ""'),
    ("train", "schedule", "linear", "train.schedule must be one of 'constant', 'cosine', 'step'"),
    ("train", "optimizer", "rmsprop", "train.optimizer must be one of 'adam', 'sgd'"),
    ("train", "momentum", 1.0, "train.momentum must be a number in [0, 1)"),
    ("train", "groups", {"conv3.*": {"lr": 0}}, "train.groups must be a table"),
    ("train", "groups", [], "train.groups must be a table"),
    ("checkpoint", "every_minutes", -5, "checkpoint.every_minutes must be a number >= 0"),
])
def test_bad_values_name_the_key(cfg, section, key, value, message):
    with pytest.raises(C.ConfigError) as err:
        C.validate(_with(cfg, section, key, value))
    assert str(err.value).startswith(message)


def test_unknown_keys_and_sections(cfg):
    with pytest.raises(C.ConfigError, match=r"config.train: unknown key 'learning_rate'"):
        C.merge(C.DEFAULTS, {"train": {"learning_rate": 1}})
    with pytest.raises(C.ConfigError, match=r"config: unknown key 'trian'"):
        C.merge(C.DEFAULTS, {"trian": {}})
    with pytest.raises(C.ConfigError, match=r"config.train must be a table, got 3"):
        C.merge(C.DEFAULTS, {"train": 3})
    with pytest.raises(C.ConfigError, match="model.arch"):
        C.validate({**cfg, "model": {}})


def test_load_config_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nlr = "fast"\n')
    with pytest.raises(C.ConfigError, match=rf'^{bad}: train.lr must be a positive number, got "fast"$'):
        C.load_config(bad)
    bad.write_text("[train]\nsteps = [")
    with pytest.raises(C.ConfigError, match="not valid TOML"):
        C.load_config(bad)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        C.load_config(tmp_path / "missing.toml")
    with pytest.raises(C.ConfigError, match="is a folder"):
        C.load_config(tmp_path)


def test_resume_allows_only_the_documented_keys(cfg):
    more = _with(_with(cfg, "train", "steps", 20000), "train", "lr", 1e-4)
    more = _with(more, "eval", "every", 50)
    assert C.resume_conflicts(cfg, more) == []
    other = _with(_with(cfg, "data", "scales", [4]), "train", "batch_size", 32)
    other["model"] = {"arch": "dcnn"}
    assert C.resume_conflicts(cfg, other) == [
        'data.scales: [2, 3, 4] → [4]', 'model.arch: "srcnn" → "dcnn"', "train.batch_size: 64 → 32"]


@pytest.mark.parametrize("line, match", [
    ("n1 = -3", r"model.n1 must be an integer in \[1, 4096\], got -3"),
    ("n2 = 1048576", r"model.n2 must be an integer in \[1, 4096\], got 1048576"),
    ('n1 = "64"', r'model.n1 must be an integer in \[1, 4096\], got "64"'),
    ("f1 = 4", r"model.f1 must be an odd integer in \[1, 4096\], got 4"),
    ("b_hidden = 0", r"model.b_hidden must be an integer"),
])
def test_bad_model_sizes_name_the_key_and_the_file_before_any_build(tmp_path, line, match):
    path = tmp_path / "bad.toml"
    path.write_text(f'[model]\narch = "srcnn"\n{line}\n')
    with pytest.raises(C.ConfigError, match=rf"bad.toml: {match}"):
        C.load_config(path)
