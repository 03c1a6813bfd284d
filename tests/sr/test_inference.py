"""dynconv.sr.inference: whole-image prediction, tiled (static) and windowed (dynamic)."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from dynconv.sr import inference, models
from _models import SMALL, REACH, randomise_b as _randomise_b


@pytest.mark.parametrize("shape", [(40, 37), (7, 5), (64, 64)])
def test_static_tiled_and_untiled_inference_agree(rng, shape):
    m = models.srcnn(**SMALL, residual=True, seed=2)
    img = rng.random(shape)
    whole = m.predict(img)
    tiled = m.predict(img, tile=16)
    assert whole.shape == shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def _perturb_mapping(m, rng):
    """Move the mapping layers off the identity, so that a wrong crop of their input shows."""
    for name, p, _ in m.graph.parameters():
        if name.startswith("map"):
            p += 0.1 * rng.standard_normal(p.shape).astype(p.dtype)


@pytest.mark.parametrize("options", [{}, REACH, dict(REACH, mapping=[3, 1]), dict(mapping=[3])],
                         ids=["conv3", "conv2+conv3+log", "conv2+map+conv3", "map+conv3"])
def test_dynamic_inference_is_the_network_on_each_training_window(rng, options):
    """Design property (iii): every window's output is exactly the graph run on that 33x33
    crop — what B saw in training — and overlapping windows are blended."""
    m = models.dcnn(**SMALL, residual=True, seed=4, **options)
    _randomise_b(m, rng, 0.005 if options else 0.05)
    _perturb_mapping(m, rng)  # log features are O(5): keep y O(1)
    L = m.window - 2 * m.radius
    img = rng.random((L, L))  # one window covers the image: no blending at all
    padded = np.pad(img, m.radius, mode="symmetric")
    want = m.graph.forward({"x": padded[None, None].astype(np.float32)})["y"][0, 0]
    np.testing.assert_allclose(m.predict(img), want, atol=1e-5)
    big = rng.random((50, 44))
    out = m.predict(big)
    corner = m.graph.forward({"x": np.pad(big, m.radius, mode="symmetric")[None, None, :33, :33]
                              .astype(np.float32)})["y"][0, 0]
    assert out.shape == big.shape
    assert abs(out[0, 0] - corner[0, 0]) < 1e-5  # the corner pixel lies in one window only
    # Different windows get different kernels, so the blend differs from any single window.
    assert np.abs(out[:L, :L] - corner).max() > 1e-4


@pytest.mark.parametrize("options", [{}, REACH, dict(REACH, mapping=[3, 1]), dict(mapping=[3])],
                         ids=["conv3", "conv2+conv3+log", "conv2+map+conv3", "map+conv3"])
def test_dynamic_tiles_do_not_change_the_result(rng, options):
    m = models.dcnn(**SMALL, residual=True, seed=6, **options)
    _randomise_b(m, rng, 0.005 if options else 0.05)
    _perturb_mapping(m, rng)
    img = rng.random((61, 47))
    np.testing.assert_allclose(m.predict(img, tile=16), m.predict(img, tile=1000), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict(img, tile=25), m.predict(img), rtol=1e-5, atol=1e-6)


def test_predict_rejects_bad_input():
    m = models.srcnn(**SMALL)
    with pytest.raises(ValueError, match=r"image must be a non-empty 2-D array"):
        m.predict(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r"tile must be a positive int"):
        m.predict(np.zeros((8, 8)), tile=0)


def test_window_kernels_of_a_fresh_dcnn_are_its_static_kernel(rng):
    # At step 0 B's last layer has zero weights, so every window gets the bias: the static kernel.
    m = models.dcnn(n1=8, n2=4, residual=True)
    k, b = inference.window_kernels(m, rng.random((40, 52)), 3)
    w = m.graph.nodes[models.B_KERNELS].layer.params["b"]
    assert k.shape[1:] == (4, 5, 5) and len(k) == len(b) > 1
    np.testing.assert_array_equal(k, np.broadcast_to(w[:-1].reshape(4, 5, 5), k.shape))
    np.testing.assert_array_equal(b, w[-1])
    with pytest.raises(ValueError, match="not a dynamic model"):
        inference.window_kernels(models.srcnn(n1=8, n2=4), np.zeros((40, 40)))


def test_box_means_equal_the_full_integral_image_bit_for_bit(rng):
    feat = rng.random((3, 40, 37)).astype(np.float32)
    nb = 9
    ii, jj = rng.integers(0, 40 - nb + 1, 25), rng.integers(0, 37 - nb + 1, 25)
    ii[0] = jj[0] = 0  # boxes at the zero border and at the far edge
    ii[1], jj[1] = 40 - nb, 37 - nb
    integral = np.zeros((3, 41, 38))
    integral[:, 1:, 1:] = feat.astype(np.float64).cumsum(1).cumsum(2)
    want = (integral[:, ii + nb, jj + nb] - integral[:, ii, jj + nb]
            - integral[:, ii + nb, jj] + integral[:, ii, jj]).T / nb**2
    got = inference._box_means(feat, nb, ii, jj)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got[1], feat[:, -nb:, -nb:].mean(axis=(1, 2)), rtol=1e-6)


def test_windowed_inference_frees_its_batches_without_the_garbage_collector(rng):
    """Each batch's feeds (window crops) must be freed when the batch is done, not at Python's
    next full collection: held batch after batch they made the peak memory grow with the image."""
    m = models.dcnn(**SMALL, residual=True, seed=4, **REACH)
    img = rng.random((90, 90))
    m.predict(img[:40, :40])  # compile outside the measurement
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        out = m.predict(img, batch=4)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert current - out.nbytes < peak / 20


def test_numpy_blas_runs_serially_inside_inference_and_is_restored():
    from dynconv.kernels import _blas

    if "numpy" not in _blas._CONTROLS:
        pytest.skip("NumPy's OpenBLAS thread control was not found")
    get, set_ = _blas._CONTROLS["numpy"]
    before = get()
    set_(2)
    try:
        with inference.serial_numpy_blas():
            inside = get()
        assert (inside, get()) == (1, 2)
    finally:
        set_(before)
