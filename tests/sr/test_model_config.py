"""dynconv.sr.model_config: a model's options apart from its graph; stored configs read back unchanged."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import dynconv
from dynconv import checkpoint
from dynconv.sr import models
from dynconv.sr.model_config import DcnnConfig, SrcnnConfig, from_dict
from _models import REACH, SMALL

WEIGHTS = sorted((Path(dynconv.__file__).parent / "weights").glob("*.npz"))


@pytest.mark.parametrize("path", WEIGHTS, ids=lambda p: p.stem)
def test_every_shipped_config_reads_back_as_itself_key_for_key(path):
    stored = {k: v for k, v in checkpoint.load(path).config.items() if k != "meta"}
    cfg = from_dict(stored)
    assert list(cfg.to_dict().items()) == list(stored.items())  # the same keys in the same order
    assert from_dict(cfg.to_dict()) == cfg


def test_options_added_later_enter_the_stored_dict_only_when_set():
    plain = DcnnConfig().to_dict()
    assert list(plain) == ["arch", "f1", "f2", "f3", "n1", "n2", "b_kernel", "b_channels", "b_hidden", "window",
                           "variant", "padding", "residual", "init", "std", "seed"]
    full = DcnnConfig(**REACH, b_spectrum=(3, 2), mapping=[3], window_stride=7, name="m").to_dict()
    assert list(full)[len(plain):] == ["b_log", "b_log_eps", "b_periods", "b_spectrum", "dynamic_layers",
                                       "mapping", "window_stride", "name"]
    assert full["b_spectrum"] == [3.0, 2.0] and full["mapping"] == [3] and full["dynamic_layers"] == ["conv2", "conv3"]
    assert "name" not in SrcnnConfig(name="").to_dict() and SrcnnConfig(name="s").to_dict()["name"] == "s"


@pytest.mark.parametrize("cls, options, radius", [
    (SrcnnConfig, {}, 6), (SrcnnConfig, dict(f2=5), 8), (DcnnConfig, {}, 6), (DcnnConfig, dict(mapping=[3, 1]), 7),
    (DcnnConfig, dict(f2=3, mapping=(3, 3)), 9),
])
def test_radius_counts_every_layer(cls, options, radius):
    assert cls(**options).radius == radius
    assert models.build(cls(**options)).radius == radius


def test_a_config_is_frozen_and_compares_by_value():
    cfg = DcnnConfig(**SMALL, mapping=[3])
    assert cfg.mapping == (3,) and cfg == DcnnConfig(**SMALL, mapping=(3,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n1 = 16


@pytest.mark.parametrize("cls, builder, options", [
    (SrcnnConfig, models.srcnn, dict(SMALL, residual=True, seed=4)),
    (DcnnConfig, models.dcnn, dict(SMALL, **REACH, mapping=[3], residual=True, seed=4)),
    (DcnnConfig, models.dcnn, dict(SMALL, variant="scale", dtype=np.float64, seed=2)),
])
def test_the_builder_of_a_config_is_the_keyword_builder(cls, builder, options):
    a, b = builder(**options), models.build(cls(**options))
    assert a.config == b.config and a.graph.order() == b.graph.order() and a.parts == b.parts
    for (n, p, _), (m, q, _) in zip(a.graph.parameters(), b.graph.parameters()):
        assert n == m and p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("options, match", [
    (dict(padding="same"), "padding='valid' only"), (dict(variant="v"), "variant must be"),
    (dict(dynamic_layers=("conv2",)), r"dynamic_layers must be .*got \['conv2'\]"),
    (dict(mapping=[2]), "each of mapping must be an odd"), (dict(window=11), "window 11 is too small"),
    (dict(b_kernel=4), "b_kernel must be an odd"),
])
def test_dcnn_options_are_checked_when_the_config_is_made(options, match):
    with pytest.raises(ValueError, match=match):
        DcnnConfig(**options)


def test_from_dict_names_the_unknown_option_and_the_known_ones():
    with pytest.raises(ValueError, match=r"bad dcnn config \{\"depth\": 20\}: unknown option\(s\) \['depth'\]; "
                                         r"known: f1, f2, .*mapping"):
        from_dict({"arch": "dcnn", "depth": 20})
    with pytest.raises(ValueError, match="unknown architecture 'vdsr'"):
        from_dict({"arch": "vdsr"})
    assert from_dict({"arch": "srcnn", "meta": {"psnr": 1}, "n1": 8}) == SrcnnConfig(n1=8)


def test_a_value_only_a_layer_refuses_is_a_bad_config():
    with pytest.raises(ValueError, match=r"bad dcnn config \{\"n1\": \"a\"\}"):
        models.build({"arch": "dcnn", "n1": "a"})
