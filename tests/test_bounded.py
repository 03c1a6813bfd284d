"""Hostile files meet the size-limited readers: bombs are refused before they cost memory."""
import functools
import json
import tracemalloc
import types
import zipfile
import zlib

import numpy as np
import pytest

from dynconv import bounded, checkpoint
from dynconv.photo import png16, tiff16

#: Far below any bomb here: a refusal must not inflate what it refuses.
PEAK_LIMIT = 32 * 2**20


@functools.lru_cache(maxsize=1)  # built once, shared by the PNG and TIFF bombs
def _zeros_deflated(nbytes, chunk=1 << 22):
    c = zlib.compressobj(1)
    parts = [c.compress(bytes(chunk)) for _ in range(nbytes // chunk)]
    return b"".join(parts) + c.compress(bytes(nbytes % chunk)) + c.flush()


def _peak(fn):
    """Run ``fn``, expecting ValueError; return (the error, peak traced bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            fn()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ----------------------------------------------------------------- inflate
def test_inflate_exact_size_round_trips():
    data = bytes(range(256)) * 10
    assert bounded.inflate(zlib.compress(data), len(data), "f") == data


@pytest.mark.parametrize("size, match", [(100, "beyond the 100 bytes"), (5000, "truncated|declares 5000")])
def test_inflate_refuses_more_or_less_than_declared(size, match):
    with pytest.raises(ValueError, match=match):
        bounded.inflate(zlib.compress(bytes(1000)), size, "f.png")


def test_inflate_names_file_on_corrupt_and_truncated_streams():
    z = zlib.compress(bytes(range(256)) * 40)
    with pytest.raises(ValueError, match=r"f\.tif: truncated"):
        bounded.inflate(z[:len(z) // 2], 10240, "f.tif")
    with pytest.raises(ValueError, match=r"f\.tif: corrupt"):
        bounded.inflate(b"\x78\x9c\xff\xff\xff\xff", 10, "f.tif")


# ----------------------------------------------------------------- PNG / TIFF bombs
def _write_with_idat(module, writer, path, payload, monkeypatch):
    """Write a real 16x16 16-bit RGB file whose deflate payload is replaced by ``payload``."""
    shim = types.SimpleNamespace(compress=lambda b, level=6: payload, crc32=zlib.crc32)
    monkeypatch.setattr(module, "zlib", shim)
    writer(path, np.zeros((16, 16, 3), np.uint16))
    monkeypatch.undo()


@pytest.mark.parametrize("module, writer, reader, name", [
    (png16, png16.write_png, png16.read_png, "b.png"),
    (tiff16, tiff16.write_tiff, tiff16.read_tiff, "b.tif")])
def test_deflate_bomb_is_refused_without_inflating(tmp_path, monkeypatch, module, writer, reader, name):
    path = tmp_path / name
    _write_with_idat(module, writer, path, _zeros_deflated(400 * 2**20), monkeypatch)
    err, peak = _peak(lambda: reader(path))
    assert name in str(err) and "beyond" in str(err)
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("module, writer, reader, name", [
    (png16, png16.write_png, png16.read_png, "t.png"),
    (tiff16, tiff16.write_tiff, tiff16.read_tiff, "t.tif")])
def test_truncated_deflate_is_one_value_error_naming_the_file(tmp_path, monkeypatch, module, writer, reader, name):
    rows = np.arange(16 * (16 * 6 + 1), dtype=np.uint32).astype(np.uint8).tobytes()
    z = zlib.compress(rows)
    _write_with_idat(module, writer, tmp_path / name, z[:len(z) // 2], monkeypatch)
    with pytest.raises(ValueError, match=name) as info:
        reader(tmp_path / name)
    assert not isinstance(info.value, zlib.error)


def test_png_with_idat_in_a_text_chunk_is_valid(tmp_path):
    path = tmp_path / "text.png"
    a = (np.arange(16 * 16 * 3).reshape(16, 16, 3) * 97 % 65536).astype(np.uint16)
    png16.write_png(path, a)
    data = path.read_bytes()
    text = png16._chunk(b"tEXt", b"Comment\0has IDAT inside")
    path.write_bytes(data[:33] + text + data[33:])  # after the signature and IHDR
    assert png16.png_info(path).width == 16
    out, _ = png16.read_png(path)
    np.testing.assert_array_equal(out, a)


# ----------------------------------------------------------------- .npz members
def _npz(path, members):
    """A zip of .npy members written by hand: name -> (npy header dict, payload writer)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (shape, nbytes) in members.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "<f4", "fortran_order": False, "shape": shape})
                for _ in range(nbytes // (1 << 22)):
                    f.write(bytes(1 << 22))
                f.write(bytes(nbytes % (1 << 22)))


def _header_member(params):
    h = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "config": {}, "step": 0,
         "params": params, "dtype": "float32", "optimizer": None}
    return np.frombuffer(json.dumps(h).encode(), np.uint8)


def test_npz_member_bomb_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.npz"
    n = 300 * 2**20 // 4
    _npz(path, {"param/c.w": ((n,), 4 * n)})
    with zipfile.ZipFile(path, "a") as z:
        with z.open("__header__.npy", "w") as f:
            np.lib.format.write_array(f, _header_member({"c.w": [n]}))
    err, peak = _peak(lambda: checkpoint.load(path))
    assert isinstance(err, checkpoint.CheckpointError)
    assert "bomb.npz" in str(err) and "corrupt" in str(err) and "\n" not in str(err)
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_npz_header_declaring_more_than_the_member_is_refused_before_allocating(tmp_path):
    path = tmp_path / "liar.npz"
    _npz(path, {"w": ((2**28,), 64)})  # the .npy header claims 1 GiB, the member holds 64 bytes
    err, peak = _peak(lambda: bounded.read_npz(path))
    assert "liar.npz" in str(err) and "'w'" in str(err)
    assert peak < PEAK_LIMIT


def test_npz_limits_per_member(tmp_path):
    path = tmp_path / "big.npz"
    _npz(path, {"w": ((2**20,), 2**22)})
    assert bounded.read_npz(path)["w"].shape == (2**20,)
    with pytest.raises(ValueError, match="too large"):
        bounded.read_npz(path, max_member=2**20)


def test_npz_round_trips_fortran_and_refuses_objects(tmp_path):
    a = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    np.savez(tmp_path / "ok.npz", a=a, b=np.int16(7))
    got = bounded.read_npz(tmp_path / "ok.npz")
    np.testing.assert_array_equal(got["a"], a)
    assert got["b"] == 7
    np.savez(tmp_path / "obj.npz", o=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        bounded.read_npz(tmp_path / "obj.npz")


# ----------------------------------------------------------------- header-bomb weights
@pytest.mark.parametrize("key, value", [("n1", 2**20), ("f1", 999), ("n2", 2**40), ("window", 10**6),
                                        ("n1", "64"), ("n1", 0)])
def test_header_bomb_weights_are_refused_before_building(tmp_path, key, value):
    from dynconv.sr import models

    path = tmp_path / "w.npz"
    models.srcnn(n1=8, n2=4).save(path)
    arrays = bounded.read_npz(path)
    header = json.loads(arrays["__header__"].tobytes())
    header["config"][key] = value
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)
    err, peak = _peak(lambda: models.Model.load(path))
    assert isinstance(err, checkpoint.CheckpointError)
    assert "w.npz" in str(err) and key in str(err) and "corrupt checkpoint" in str(err)
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    assert bounded.check_architecture(path, {"n1": 8, "f1": 9}, 4000) is None


# ----------------------------------------------------------------- no silent garbage
def test_a_nan_returning_callable_is_an_error_naming_it():
    import dynconv

    def broken(up, scale):
        return np.full_like(up, np.nan)

    img = (np.arange(12 * 12 * 3).reshape(12, 12, 3) % 256).astype(np.uint8)
    with pytest.raises(ValueError, match="'broken'.*NaN or infinite"):
        dynconv.upscale(img, 2, model=broken)
    with pytest.raises(ValueError, match="'<lambda>'.*NaN or infinite"):
        dynconv.upscale(img[..., 0], 2, model=lambda up, s: np.where(up == up.max(), np.inf, up))


def test_huge_weights_are_an_error_naming_the_model(tmp_path):
    import dynconv
    from dynconv.sr import models

    m = models.srcnn(n1=8, n2=4, name="huge")
    for _, p, _ in m.graph.parameters():
        p[...] = 1e30  # finite, so saved; the output overflows
    path = tmp_path / "huge.npz"
    m.save(path)
    img = (np.arange(24 * 24) % 256).reshape(24, 24).astype(np.uint8)
    with pytest.raises(ValueError, match="'huge'.*NaN or infinite"):
        dynconv.upscale(img, 2, model=str(path))


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (0.0, 2.0), (0.0, 255.0)])
def test_float_images_outside_0_1_are_refused(lo, hi):
    import dynconv

    img = np.linspace(lo, hi, 64).reshape(8, 8)
    with pytest.raises(ValueError, match=r"image.*\[0, 1\].*found"):
        dynconv.upscale(img, 2, model="bicubic")
    assert dynconv.upscale(np.clip(img, 0, 1), 2, model="bicubic").dtype == np.float64


def test_pil_cmyk_image_loses_its_cmyk_profile():
    import dynconv
    from PIL import Image

    im = Image.new("CMYK", (8, 8), (10, 20, 30, 40))
    im.info["icc_profile"] = b"a CMYK profile"
    out = dynconv.upscale(im, 2, model="bicubic")
    assert out.mode == "RGB" and not out.info.get("icc_profile")
    rgb = Image.new("RGB", (8, 8), (10, 20, 30))
    rgb.info["icc_profile"] = b"an RGB profile"
    assert dynconv.upscale(rgb, 2, model="bicubic").info.get("icc_profile") == b"an RGB profile"


def _planar_tiff(path, planes):
    """An uncompressed 16-bit RGB TIFF with PlanarConfiguration = 2: one strip per plane."""
    import struct

    c, h, w = planes.shape
    data = [planes[i].astype("<u2").tobytes() for i in range(c)]
    n_tags, ifd = 11, 8
    extra = ifd + 2 + 12 * n_tags + 4
    bits_at, offs_at, counts_at = extra, extra + 6, extra + 18
    pix_at = counts_at + 12
    offsets = [pix_at + i * len(data[0]) for i in range(c)]
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 3, offs_at), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 3, counts_at),
            (284, 3, 1, 2), (296, 3, 1, 1)]
    body = b"II*\0" + struct.pack("<I", ifd) + struct.pack("<H", n_tags)
    for tag, kind, count, value in tags:
        body += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                         else struct.pack("<I", value))
    body += struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16)
    body += struct.pack("<3I", *offsets) + struct.pack("<3I", *[len(d) for d in data])
    path.write_bytes(body + b"".join(data))


def test_planar_16bit_tiff_is_refused_not_garbled(tmp_path):
    from PIL import Image

    from dynconv.photo import io as photo

    planes = np.stack([np.full((6, 5), v, np.uint16) for v in (1000, 30000, 60000)])
    path = tmp_path / "planar.tif"
    _planar_tiff(path, planes)
    with Image.open(path) as im:
        assert im.tag_v2.get(284) == 2 and set(im.tag_v2[258]) == {16}
    with pytest.raises(ValueError, match="planar.tif.*planar"):
        photo.read_photo(path)


@pytest.mark.parametrize("payload", ["bomb", "truncated"])
def test_damaged_16bit_tiff_is_refused_by_read_photo_not_read_at_8_bits(tmp_path, monkeypatch, payload):
    from dynconv.photo import io as photo

    z = zlib.compress(bytes(range(256)) * 6)
    data = _zeros_deflated(400 * 2**20) if payload == "bomb" else z[:len(z) // 2]
    _write_with_idat(tiff16, tiff16.write_tiff, tmp_path / "d.tif", data, monkeypatch)
    with pytest.raises(ValueError, match=r"d\.tif: (corrupt|truncated)"):
        photo.read_photo(tmp_path / "d.tif")


def test_huge_weights_via_the_command_line_are_one_error_line_and_no_output(tmp_path, capsys):
    from PIL import Image

    from dynconv.cli import main
    from dynconv.sr import models

    m = models.srcnn(n1=8, n2=4, name="huge")
    for _, p, _ in m.graph.parameters():
        p[...] = 1e30
    m.save(tmp_path / "huge.npz")
    src = tmp_path / "in.png"
    Image.fromarray((np.arange(24 * 24) % 256).reshape(24, 24).astype(np.uint8)).save(src)
    code = main(["upscale", str(src), str(tmp_path / "out.png"), "--scale", "2",
                 "--model", str(tmp_path / "huge.npz"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "'huge'" in err and "NaN or infinite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.npz", "in.png"]
