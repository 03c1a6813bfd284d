"""dynconv.sr.image: Pillow I/O, MATLAB imresize, colour spaces, cropping, degradations."""
from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from dynconv.sr import image as im

# --------------------------------------------------------------------------- imresize


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 0.7, 1.5, 2, 3, 4])
@pytest.mark.parametrize("channels", [None, 3])
def test_imresize_keeps_constants_constant(rng, scale, channels):
    h, w = rng.integers(12, 40, size=2)
    c = rng.uniform(0, 255)
    shape = (h, w) if channels is None else (h, w, channels)
    out = im.imresize(np.full(shape, c), scale)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, c, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "shape, scale, expected",
    [
        ((255, 255), 1 / 3, (85, 85)),  # modcropped sizes divide exactly
        ((10, 7), 0.5, (5, 4)),  # MATLAB: ceil(scale * size)
        ((7, 5), 2.5, (18, 13)),
        ((5, 5), 1 / 3, (2, 2)),
        ((1, 9), 4, (4, 36)),
    ],
)
def test_imresize_output_size_is_matlabs(shape, scale, expected):
    assert im.imresize(np.zeros(shape), scale).shape == expected


def test_imresize_output_shape_argument(rng):
    x = rng.uniform(0, 1, (12, 18, 3))
    assert im.imresize(x, output_shape=(5, 7)).shape == (5, 7, 3)
    # with an exact ratio, output_shape and scale are the same resize
    np.testing.assert_allclose(im.imresize(x, output_shape=(4, 6)), im.imresize(x, 1 / 3), atol=1e-13)


def test_imresize_upscale_hand_computed():
    # [a, b] x2, 1-based output x: u = x/2 + 1/4, taps at floor(u - 2) + 0..5, mirrored [a b b a].
    # Keys a=-0.5: k(0.25)=0.8671875, k(0.75)=0.2265625, k(1.25)=-0.0703125, k(1.75)=-0.0234375.
    # x=1 (u=0.75): a*(k(.75)+k(.25)) + b*(k(1.75)+k(1.25)) = 1.09375a - 0.09375b
    # x=2 (u=1.25): a*(k(1.25)+k(.25)) + b*(k(.75)+k(1.75)) = 0.796875a + 0.203125b
    out = im.imresize(np.array([[0.0, 1.0]]), 2)
    expected = np.array([-0.09375, 0.203125, 0.796875, 1.09375])
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out, np.tile(expected, (2, 1)), rtol=0, atol=1e-15)


def test_imresize_antialiased_downscale_hand_computed():
    # [a b c d] x1/2: width 8, h(x) = k(x/2)/2, u = 2x - 1/2; x=1 taps -2..5 mirrored to
    # c b a a b c d d with k(1.75), k(1.25), k(.75), k(.25), k(.25), k(.75), k(1.25), k(1.75),
    # normalised by their sum 2: out1 = (1.09375a + 0.796875b + 0.203125c - 0.09375d) / 2.
    out = im.imresize(np.array([[1.0, 0.0, 0.0, 0.0]]), 0.5)
    np.testing.assert_allclose(out, [[0.546875, -0.046875]], rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale", [1 / 3, 1 / 2, 2, 3])
def test_imresize_commutes_with_transpose_and_flips(rng, scale):
    x = rng.uniform(0, 255, (18, 24))
    y = im.imresize(x, scale)
    np.testing.assert_allclose(im.imresize(x.T, scale), y.T, atol=1e-10)
    np.testing.assert_allclose(im.imresize(x[::-1, ::-1], scale), y[::-1, ::-1], atol=1e-10)


def test_imresize_colour_is_per_channel(rng):
    x = rng.uniform(0, 255, (15, 21, 3))
    out = im.imresize(x, 1 / 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], im.imresize(x[:, :, c], 1 / 3))


def test_imresize_without_antialiasing_decimates_odd_scales(rng):
    x = rng.uniform(0, 255, (15, 21))
    # block centres of 3x3 blocks sit on pixels 1, 4, 7, ...: the cubic kernel is 1 there, 0 elsewhere
    np.testing.assert_allclose(im.imresize(x, 1 / 3, antialiasing=False), x[1::3, 1::3], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"scale": 0}, "scale"), ({"scale": -2}, "scale"), ({}, "exactly one"), ({"output_shape": (0, 3)}, "output_shape")],
)
def test_imresize_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        im.imresize(np.zeros((4, 4)), **kwargs)


def test_imresize_rejects_empty_image():
    with pytest.raises(ValueError, match="non-empty"):
        im.imresize(np.zeros((0, 4)), 2)


@pytest.mark.slow
def test_imresize_is_fast_on_2000x2000(rng):
    x = rng.uniform(0, 1, (2000, 2000))
    im.imresize(x[:50, :50], 1 / 3)  # warm up imports
    t0 = time.perf_counter()
    lr = im.imresize(x, 1 / 2)
    im.imresize(lr, 2)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- colour


def test_ycbcr_round_trip(rng):
    rgb = rng.uniform(0, 255, (9, 11, 3))
    np.testing.assert_allclose(im.ycbcr_to_rgb(im.rgb_to_ycbcr(rgb)), rgb, atol=1e-9)


def test_hsv_round_trip(rng):
    rgb = rng.uniform(0, 255, (9, 11, 3))
    rgb[0, :3] = [[10, 10, 10], [0, 0, 0], [255, 0, 0]]  # grey, black, pure hue
    np.testing.assert_allclose(im.hsv_to_rgb(im.rgb_to_hsv(rgb)), rgb, atol=1e-9)


@pytest.mark.parametrize(
    "rgb, y",
    [((255, 255, 255), 235), ((0, 0, 0), 16), ((255, 0, 0), 81), ((0, 255, 0), 145), ((0, 0, 255), 41)],
)
def test_rgb_to_y_matches_matlab_rgb2ycbcr(rgb, y):
    # 16 + (65.481, 128.553, 24.966) . rgb / 255, rounded: e.g. red 81.481 -> 81, green 144.553 -> 145
    assert im.rgb_to_y(np.array(rgb, dtype=np.uint8).reshape(1, 1, 3))[0, 0] == y


def test_rgb_to_y_passes_grey_through(rng):
    g = rng.integers(0, 256, (5, 6)).astype(np.uint8)
    np.testing.assert_array_equal(im.rgb_to_y(g), g)


@pytest.mark.parametrize(
    "rgb, hsv",
    [((255, 0, 0), (0, 1, 255)), ((0, 255, 0), (1 / 3, 1, 255)), ((0, 0, 255), (2 / 3, 1, 255)),
     ((128, 128, 128), (0, 0, 128)), ((255, 0, 255), (5 / 6, 1, 255)), ((0, 0, 0), (0, 0, 0))],
)
def test_rgb_to_hsv_known_colours(rgb, hsv):
    np.testing.assert_allclose(im.rgb_to_hsv(np.array(rgb, float).reshape(1, 1, 3))[0, 0], hsv, atol=1e-12)


def test_to_uint8_rounds_half_away_from_zero():
    np.testing.assert_array_equal(im.to_uint8([0.5, 1.5, 2.5, -3, 300, 254.49]), [1, 2, 3, 0, 255, 254])


def test_colour_functions_reject_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        im.rgb_to_ycbcr(np.zeros((4, 4)))


# --------------------------------------------------------------------------- cropping


@pytest.mark.parametrize("scale, expected", [(2, (10, 6)), (3, (9, 6)), (4, (8, 4)), (2.5, (10, 5))])
def test_modcrop(scale, expected):
    assert im.modcrop(np.zeros((11, 7)), scale).shape == expected


def test_modcrop_rejects_image_smaller_than_scale():
    with pytest.raises(ValueError, match="smaller than the scale 4"):
        im.modcrop(np.zeros((3, 9)), 4)


def test_shave():
    x = np.arange(36).reshape(6, 6)
    np.testing.assert_array_equal(im.shave(x, 2), x[2:4, 2:4])
    assert im.shave(x, 0) is not None and im.shave(x, 0).shape == (6, 6)
    with pytest.raises(ValueError, match="nothing left"):
        im.shave(x, 3)


# --------------------------------------------------------------------------- degradations


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_degradation_is_down_then_up(rng, scale):
    hr = rng.uniform(0, 1, (12 * scale, 8 * scale))
    up, lr = im.bicubic(hr, scale, return_lr=True)
    assert lr.shape == (12, 8) and up.shape == hr.shape
    np.testing.assert_array_equal(lr, im.imresize(hr, 1 / scale))
    np.testing.assert_array_equal(up, im.imresize(lr, scale))


@pytest.mark.parametrize("kind", ["bicubic", "gaussian"])
@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_degradations_keep_constants_and_shape(rng, kind, scale):
    c = rng.uniform(0, 255)
    hr = np.full((30, 60), c)
    out = im.degrade(hr, scale, kind)
    assert out.shape == hr.shape
    np.testing.assert_allclose(out, c, atol=1e-9)


def test_gaussian_without_blur_decimates_block_centres(rng):
    hr = rng.uniform(0, 1, (12, 9))
    _, lr = im.gaussian(hr, 3, sigma=0, return_lr=True)
    np.testing.assert_allclose(lr, hr[1::3, 1::3], atol=1e-12)


def test_gaussian_blur_lowers_high_frequencies(rng):
    hr = rng.uniform(0, 1, (30, 30))
    _, lr0 = im.gaussian(hr, 3, sigma=0, return_lr=True)
    _, lr2 = im.gaussian(hr, 3, sigma=2, return_lr=True)
    assert lr2.std() < 0.5 * lr0.std()


@pytest.mark.parametrize("shape, match", [((2, 9), "smaller than the scale"), ((10, 9), "not a multiple")])
def test_degradations_reject_bad_sizes(shape, match):
    with pytest.raises(ValueError, match=match):
        im.bicubic(np.zeros(shape), 3 if match != "not a multiple" else 4)


def test_degrade_unknown_kind():
    with pytest.raises(ValueError, match="unknown degradation 'box'"):
        im.degrade(np.zeros((6, 6)), 2, "box")


# --------------------------------------------------------------------------- I/O


def _save(tmp_path, name, pil_image, **kw):
    p = tmp_path / name
    pil_image.save(p, **kw)
    return p


@pytest.mark.parametrize(
    "mode, shape, warns",
    [("L", (7, 5), False), ("RGB", (7, 5, 3), False), ("LA", (7, 5), True), ("RGBA", (7, 5, 3), True),
     ("P", (7, 5, 3), False)],
)
def test_read_image_modes(tmp_path, rng, mode, shape, warns):
    base = rng.integers(0, 256, (7, 5, 4)).astype(np.uint8)
    pil = Image.fromarray(base, "RGBA").convert(mode if mode in ("LA", "RGBA") else "RGB").convert(mode)
    p = _save(tmp_path, f"x_{mode}.png", pil)
    if warns:
        with pytest.warns(UserWarning, match="alpha channel dropped"):
            arr = im.read_image(p)
    else:
        arr = im.read_image(p)
    assert arr.shape == shape and arr.dtype == np.uint8
    if mode == "RGB":
        np.testing.assert_array_equal(arr, base[:, :, :3])


def test_read_image_16_bit(tmp_path, rng):
    v = rng.integers(0, 65536, (6, 4)).astype(np.uint16)
    v[0, :2] = [0, 65535]
    p = _save(tmp_path, "x16.png", Image.fromarray(v))
    arr = im.read_image(p)
    assert arr.dtype == np.uint8 and arr[0, 0] == 0 and arr[0, 1] == 255
    np.testing.assert_array_equal(arr, np.floor(v / 257 + 0.5).astype(np.uint8))


def test_read_image_honours_exif_orientation(tmp_path, rng):
    base = rng.integers(0, 256, (4, 6, 3)).astype(np.uint8)
    pil = Image.fromarray(base)
    exif = pil.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = _save(tmp_path, "rot.jpg", pil, exif=exif, quality=100)
    assert im.read_image(p).shape == (6, 4, 3)


def test_write_read_round_trip(tmp_path, rng):
    x = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    im.write_image(tmp_path / "a.png", x)
    np.testing.assert_array_equal(im.read_image(tmp_path / "a.png"), x)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary left behind


def _zero_width_png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_read_image_errors_name_the_file(tmp_path, rng):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    good = _save(tmp_path, "good.png", Image.fromarray(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)))
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    zero = tmp_path / "zero.png"
    zero.write_bytes(_zero_width_png())
    for path, match in [(text, "not an image"), (trunc, "truncated or corrupt"), (zero, "zero-sized")]:
        with pytest.raises(ValueError, match=match) as err:
            im.read_image(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        im.read_image(tmp_path / "missing.png")
