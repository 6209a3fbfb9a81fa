"""Images: every odd file ``read_image`` may meet, and the pixel limit.

Each bad file gives a :class:`MediaError` naming the file; each odd but valid
file (16-bit, grayscale, RGBA, palette, CMYK, EXIF-rotated, non-ASCII path)
gives ``uint8[H, W, 3]`` RGB with the pixels a reference decoder (Pillow)
sees, upright, at the size the header reader reports (the size boxes are
stored in).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from detector_app.domain.errors import MediaError
from detector_app.domain.imageheader import read_header_size
from detector_app.media import images
from detector_app.media.images import ImageTooLarge, read_image, read_preview, write_image
from detector_app.media.imagesize import image_size
from tests.helpers.files import png_bytes, png_chunk

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 255, (30, 40, 3), dtype=np.uint8)


def _pil_bytes(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width x height`` (the pixel data is a stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


# -- bad files: a MediaError naming the file ------------------------------------------
@pytest.mark.parametrize("name, content, expected", [
    ("missing.png", None, "no such file"),
    ("empty.png", b"", r"empty file \(0 bytes\)"),
    ("text.png", b"hello, I am not an image\n" * 20, "not a readable image"),
    ("half.png", png_bytes(RGB)[: len(png_bytes(RGB)) // 2], "not a readable image"),
    ("half.jpg", cv2.imencode(".jpg", RGB)[1].tobytes()[:400], "not a readable image"),
    ("cut.jpg", cv2.imencode(".jpg", RGB)[1].tobytes()[:-40], "not a readable image"),
    ("half.bmp", cv2.imencode(".bmp", RGB)[1].tobytes()[:1000], "not a readable image"),
    ("half.tif", cv2.imencode(".tif", RGB)[1].tobytes()[:1000], "not a readable image"),
    ("wrong-extension.jpg", b"GIF89a" + b"\0" * 40, "not a readable image"),
])
def test_bad_image_files_name_the_file(tmp_path: Path, name: str, content: bytes | None, expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=rf"^{tmp_path}/{name}: {expected}"):
        read_image(path)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a folder"):
        read_image(tmp_path)


# -- odd but valid files -----------------------------------------------------------------
def test_16_bit_png_and_tiff_become_8_bit(tmp_path: Path) -> None:
    v = (np.arange(30 * 40, dtype=np.uint32).reshape(30, 40) * 54).astype(np.uint16)  # 0..64746
    expected = v / 257.0
    gray = tmp_path / "gray16.png"
    assert cv2.imwrite(str(gray), v)
    colour = tmp_path / "rgb16.tif"
    assert cv2.imwrite(str(colour), np.dstack([v, v // 2, v // 4]))  # BGR
    for path in (gray, colour):
        rgb = read_image(path)
        assert rgb.dtype == np.uint8 and rgb.shape == (30, 40, 3)
    assert np.abs(read_image(gray).astype(float) - expected[..., None]).max() <= 1.0
    rgb = read_image(colour).astype(float)
    assert np.abs(rgb[..., 2] - expected).max() <= 1.0  # blue was written first (BGR)
    assert np.abs(rgb[..., 0] - (v // 4) / 257.0).max() <= 1.0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "PA", "1", "I;16", "CMYK"])
def test_modes_match_pillow(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(RGB)
    if mode == "P":
        img = base.quantize(colors=16)
    elif mode == "PA":
        img = base.quantize(colors=16)
        img.info["transparency"] = 0  # a palette with a transparent entry
    elif mode in ("LA", "RGBA"):
        img = base.convert(mode)
        alpha = Image.fromarray(RNG.integers(0, 255, (30, 40), dtype=np.uint8))
        img.putalpha(alpha)
    elif mode == "I;16":
        img = Image.fromarray(RGB[..., 0].astype(np.uint16) * 257)
    else:
        img = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    path = tmp_path / f"img.{fmt.lower()}"
    path.write_bytes(_pil_bytes(img, fmt, **({"transparency": 0} if mode == "PA" else {})))
    rgb = read_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (30, 40, 3)
    # Pillow's view of the stored colours (alpha dropped, not composited)
    if mode == "I;16":
        ref = np.repeat(RGB[..., :1], 3, axis=2)
    else:
        ref = np.asarray(Image.open(path).convert("RGBA" if mode in ("LA", "PA") else "RGB"))[..., :3]
    tol = 3 if mode == "CMYK" else 0
    assert np.abs(rgb.astype(int) - ref.astype(int)).max() <= tol, mode
    assert image_size(path) == (40, 30)


def _exif_jpeg(rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``rgb`` (stored as is) with an EXIF orientation tag."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHI", 0x0112, 3, 1) + struct.pack("<HH", orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotated_jpeg_is_upright_like_pillow_and_header_agrees(tmp_path: Path, orientation: int) -> None:
    """A red block at the stored top-left lands where EXIF says; Pillow's
    ``exif_transpose`` is the reference; the header size (what the store keeps
    and boxes are clipped to) is the decoded size."""
    from PIL import ImageOps

    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:10, :20] = (255, 0, 0)
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(_exif_jpeg(stored, orientation))
    rgb = read_image(path)
    ref = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert rgb.shape == ref.shape
    assert np.abs(rgb.astype(int) - ref.astype(int)).mean() < 2.0
    assert read_header_size(path) == image_size(path) == (rgb.shape[1], rgb.shape[0])
    red = np.argwhere(rgb[..., 0] > 200)
    assert len(red) > 100  # the block is still there, wherever it went


@pytest.mark.parametrize("name", ["café/ñandú.png", "日本語/画像.jpg", "emoji 🐱/x y#1?.webp", "Ωmega/ε.tif"])
def test_non_ascii_paths_read_write_and_size(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.parent.mkdir()
    write_image(path, RGB)
    back = read_image(path)
    assert back.shape == RGB.shape
    if path.suffix in (".png", ".tif"):
        assert np.array_equal(back, RGB)
    assert image_size(path) == (40, 30)
    with pytest.raises(MediaError, match="日本語"):
        read_image(tmp_path / "日本語" / "missing.png")


def test_write_to_a_missing_folder_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope/x\.png: cannot write"):
        write_image(tmp_path / "nope" / "x.png", RGB)


# -- huge images: a limit, checked before any pixel is decoded ------------------------
def test_huge_image_is_refused_from_its_header_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_header(20000, 20000))

    def no_decoding(*_a: object) -> None:
        raise AssertionError("decoded a 20000 x 20000 image")

    monkeypatch.setattr(images.cv2, "imdecode", no_decoding)
    with pytest.raises(ImageTooLarge) as info:
        read_image(path)
    msg = str(info.value)
    assert msg == (f"{path}: image is 20000x20000 pixels (400 megapixels), over the 100 megapixel limit; "
                   "downscale it to view, detect or annotate it")
    assert (info.value.width, info.value.height) == (20000, 20000)
    assert image_size(path) == (20000, 20000)  # the size is still known (header)
    with pytest.raises(MediaError, match="only JPEG files this large can be previewed"):
        read_preview(path)  # a PNG cannot be decoded at reduced size


def test_huge_tiff_header_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.tif"
    assert cv2.imwrite(str(path), np.zeros((30, 40, 3), np.uint8))
    monkeypatch.setattr(images, "MAX_PIXELS", 40 * 30 - 1)
    monkeypatch.setattr(images.cv2, "imdecode", lambda *_a: pytest.fail("decoded"))
    with pytest.raises(ImageTooLarge, match="40x30 pixels"):
        read_image(path)


def test_preview_of_a_large_jpeg_is_decoded_at_reduced_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the limit lowered to 0.1 MP, a 600x400 JPEG is 'huge': refused at full
    size, previewed at 1/4 by the codec (IMREAD_REDUCED_COLOR_4), pixels in place."""
    img = np.zeros((400, 600, 3), np.uint8)
    img[:200, :300] = (255, 0, 0)
    path = tmp_path / "big.jpg"
    write_image(path, img)
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageTooLarge, match=r"600x400 pixels \(0\.24 megapixels\), over the 0\.1 megapixel limit"):
        read_image(path)
    flags: list[int] = []
    real = cv2.imdecode
    monkeypatch.setattr(images.cv2, "imdecode", lambda data, flag: flags.append(flag) or real(data, flag))
    small, factor = read_preview(path, max_pixels=20_000)
    assert factor == 4 and small.shape == (100, 150, 3) and flags == [cv2.IMREAD_REDUCED_COLOR_4]
    assert small[10, 10, 0] > 240 and small[90, 140].max() < 15
    png = tmp_path / "big.png"
    write_image(png, img)
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000_000)
    small, factor = read_preview(png, max_pixels=20_000)  # under the limit: decoded, then resized
    assert factor == 4 and small.shape == (100, 150, 3)
    assert read_preview(png)[1] == 1  # small enough: full size


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 8])
def test_exif_in_png_and_webp_header_size_is_the_decoded_size(tmp_path: Path, fmt: str, orientation: int) -> None:
    """OpenCV rotates PNG (eXIf chunk) and WebP (EXIF chunk) files upright too; the
    header reader must report that size, or the store (which lists sizes from
    headers) and the YOLO reader would disagree with what is shown."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o.{fmt.lower()}"
    path.write_bytes(
        _pil_bytes(Image.fromarray(RGB), fmt, exif=exif.tobytes(), **({"lossless": True} if fmt == "WEBP" else {}))
    )
    rgb = read_image(path)
    upright = (30, 40) if orientation in (5, 6, 7, 8) else (40, 30)
    assert (rgb.shape[1], rgb.shape[0]) == upright
    assert read_header_size(path) == image_size(path) == upright


def _png_with_exif(rgb: np.ndarray, orientation: int, big_endian: bool, prefix: bool) -> bytes:
    e = ">" if big_endian else "<"
    tiff = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "IH", 8, 1)
    tiff += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0) + struct.pack(e + "I", 0)
    data = (b"Exif\x00\x00" if prefix else b"") + tiff
    png = png_bytes(rgb)
    return png[:33] + png_chunk(b"eXIf", data) + png[33:]  # right after IHDR


def test_header_and_decoder_agree_on_random_exif_pngs_and_jpegs(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    path = tmp_path / "x.img"

    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 24), st.integers(1, 24), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65535]),
           st.booleans(), st.booleans(), st.booleans())
    def check(w: int, h: int, orientation: int, big_endian: bool, prefix: bool, jpeg: bool) -> None:
        rgb = np.zeros((h, w, 3), np.uint8)
        if jpeg:
            path.write_bytes(_exif_jpeg(rgb, orientation))
        else:
            path.write_bytes(_png_with_exif(rgb, orientation, big_endian, prefix))
        decoded = read_image(path)
        assert read_header_size(path) == (decoded.shape[1], decoded.shape[0])

    check()


@pytest.mark.parametrize("junk", [b"\x00", b"\x00" * 7, b"abc"])
def test_junk_before_a_jpeg_frame_header_does_not_hide_its_size(tmp_path: Path, junk: bytes) -> None:
    """libjpeg skips stray bytes between segments and decodes the image; the header
    check skips them too, so a 12000x12000 JPEG is refused, not decoded (1.57 GB)."""
    from detector_app.domain.imageheader import read_header_size
    from detector_app.media.images import ImageTooLarge, read_image

    def jpeg(w: int, h: int) -> bytes:
        ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
        data = bytearray(buf.tobytes())
        i = data.find(b"\xff\xc0")
        data[i + 5:i + 9] = struct.pack(">HH", h, w)  # declare another size in the frame header
        j = 2 + 2 + struct.unpack(">H", bytes(data[4:6]))[0]  # the end of the first segment after SOI
        return bytes(data[:j]) + junk + bytes(data[j:])

    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg(12000, 12000))
    assert read_header_size(path) == (12000, 12000)
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        read_image(path)
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg(16, 16))
    assert read_header_size(small) == (16, 16) and read_image(small).shape == (16, 16, 3)


def test_a_huge_netpbm_image_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 432 MB PPM (1.98 GB when decoded) is refused from its header, which gives the size
    (with comments between the numbers): nothing is read or decoded."""
    from detector_app.domain.imageheader import read_header_size
    from detector_app.media.images import ImageTooLarge, read_image

    path = tmp_path / "big.ppm"
    path.write_bytes(b"P6\n# made by hand\n12000 # width\n12000\n255\n" + b"\x00" * 1000)  # the rest is missing
    assert read_header_size(path) == (12000, 12000)
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        read_image(path)
    small = tmp_path / "small.pgm"
    small.write_bytes(b"P5 4 3 255\n" + bytes(range(12)))
    assert read_header_size(small) == (4, 3) and read_image(small).shape == (3, 4, 3)


@pytest.mark.parametrize(("w", "h"), [(10000, 1), (1, 10000), (3, 9000)])
def test_an_image_too_thin_for_the_model_is_skipped_by_name(tmp_path: Path, tiny_config: Any, one_thread: None,
                                                            w: int, h: int) -> None:
    """Found by scripts/adversarial (probe ``images``): a 10000 x 1 image reached
    torchvision's resize, whose short side became 0 px: RuntimeError, a traceback from
    ``detect``. It is skipped by name now (the other images are detected); Detect all
    skips it too."""
    import torch

    from detector_app.app.detect_all import detect_all
    from detector_app.app.jobs import detect_item
    from detector_app.app.trace_store import TraceStore
    from detector_app.detection.builders import build_model
    from detector_app.detection.inference import detect_images
    from detector_app.detection.tracing import model_input

    torch.manual_seed(0)
    model = build_model(tiny_config(num_classes=3)).eval()
    thin, ok = tmp_path / "thin.png", tmp_path / "ok.png"
    write_image(thin, np.zeros((h, w, 3), np.uint8))
    write_image(ok, RGB)
    results = list(detect_images(model, [thin, ok], device="cpu"))
    assert results[0].error == (f"{thin}: image is {w}x{h} pixels, too thin for the model: scaled to at most 128 "
                                "pixels on its long side, its short side would be under one pixel")
    assert results[1].ok
    with pytest.raises(MediaError, match="too thin for the model"):
        model_input(np.zeros((h, w, 3), np.uint8), model)
    done = detect_all(tmp_path, ["thin.png", "ok.png"], lambda rgb: detect_item(model, rgb),
                      TraceStore(tmp_path / "traces", "m"))
    assert done.detected == ["ok.png"] and done.skipped[0].startswith("thin.png: image is")


def test_evaluate_names_an_image_too_thin_for_the_model(tmp_path: Path, tiny_config: Any, one_thread: None) -> None:
    """The same image in an evaluation dataset: torchvision's RuntimeError (a traceback
    from ``evaluate``); one line naming it now."""
    import json

    import torch

    from detector_app.detection.builders import build_model
    from detector_app.detection.datasets import load_detection_data
    from detector_app.detection.evaluation import predict

    write_image(tmp_path / "thin.png", np.zeros((1, 10000, 3), np.uint8))
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "thin.png", "width": 10000, "height": 1}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 1]}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
    torch.manual_seed(0)
    model = build_model(tiny_config(num_classes=3))
    with pytest.raises(MediaError, match=r"thin\.png: image is 10000x1 pixels, too thin for the model"):
        predict(model, load_detection_data(tmp_path))
