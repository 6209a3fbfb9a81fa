"""Probes (c) and (d): hostile checkpoints and odd images.

(c) Model files that try to run code when unpickled (``__reduce__`` to ``os.system``,
``eval``, ``exec``, ``subprocess.Popen``, hand-written protocol-0 opcodes, in the zip and
the legacy format, nested in the config or the weights), wrong shapes and dtypes, tensors
claiming more elements than their storage, bad configs (wrong types, out of range, one
that would allocate gigabytes), zip junk (empty, no ``data.pkl``, a compressed bomb, entry
names with ``..``) and plain junk, each through the GUI's model loading
(``app.jobs.load_detector``), ``detect`` and ``evaluate``. Pass: the marker file the
payloads would create never appears; a load or a one-line error, never a traceback;
memory under the limit.

(d) Odd images (truncated, headers declaring huge sizes in every format, 16-bit, CMYK,
1x1, gray+alpha, palette, animated GIF, EXIF rotations, extreme aspect ratios, zero bytes,
not images, a link to ``/dev/zero``) through ``detect`` with the bundled model and through
the Session (open the folder, show the image). Pass: no traceback (``detect`` exits 0, or
1 naming the skipped file), memory under the limit.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scripts.adversarial.common import Case, cli_problems, first_line, run_cli, run_forked

#: A checkpoint or image case may peak at this (MB): the process holds torch and a model
#: (about 0.5 GB) on top of what the file makes it allocate.
MODEL_RSS_LIMIT_MB = 1536


# -- (c) checkpoints ---------------------------------------------------------------------------
class _Reduce:
    """Unpickles as ``fn(*args)``."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.fn, self.args


def _tiny(torch: Any) -> tuple[dict[str, Any], Any]:
    """A small project checkpoint dict (random weights) and its config."""
    from detector_app.detection.builders import build_model
    from detector_app.detection.checkpoints import checkpoint_dict
    from detector_app.detection.config import ModelConfig

    cfg = ModelConfig(builder="small", num_classes=3, min_size=128, max_size=128,
                      anchor_sizes=((16.0, 32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),),
                      rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50, box_score_thresh=0.0)
    torch.manual_seed(0)
    return checkpoint_dict(build_model(cfg), cfg, ["__background__", "cat", "dog"]), cfg


def _zip(entries: dict[str, bytes], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def checkpoint_cases(folder: Path, marker: Path) -> list[tuple[str, Path]]:
    """Write the hostile model files; ``(name, path)`` each."""
    import subprocess

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    good, cfg = _tiny(torch)
    cases: list[tuple[str, Path]] = []
    touch = f"touch {marker}"

    def save(name: str, obj: Any, legacy: bool = False) -> None:
        path = folder / f"{len(cases):02d}.pt"
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
        path.write_bytes(buf.getvalue())
        cases.append((name, path))

    def raw(name: str, data: bytes, suffix: str = ".pt") -> None:
        path = folder / f"{len(cases):02d}{suffix}"
        path.write_bytes(data)
        cases.append((name, path))

    def variant(name: str, **changes: Any) -> None:
        ck = dict(good)
        for k, v in changes.items():
            ck[k] = v
        save(name, ck)

    def config(name: str, **changes: Any) -> None:
        variant(f"config {name}", config={**good["config"], **changes})

    def state(name: str, fn: Callable[[dict[str, Any]], None]) -> None:
        sd = dict(good["state_dict"])
        fn(sd)
        variant(f"weights: {name}", state_dict=sd)

    # code that would run when unpickled
    payloads = {"os.system": _Reduce(os.system, touch), "eval": _Reduce(eval, f"__import__('os').system({touch!r})"),
                "exec": _Reduce(exec, f"import os; os.system({touch!r})"),
                "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)])}
    for pname, payload in payloads.items():
        save(f"pickle: {pname} as the whole file", payload)
    save("pickle: os.system in the config", {**good, "config": {**good["config"], "extra": payloads["os.system"]}})
    save("pickle: os.system as a weight", {**good, "state_dict": {**good["state_dict"], "x": payloads["os.system"]}})
    save("pickle: os.system in meta", {**good, "meta": {"note": payloads["os.system"]}})
    save("pickle: os.system, legacy format", payloads["os.system"], legacy=True)
    for proto in (0, 2, 5):
        raw(f"pickle: os.system, plain pickle protocol {proto}", pickle.dumps(payloads["os.system"], protocol=proto))
    raw("pickle: protocol-0 INST opcode", f"(S'{touch}'\nios\nsystem\n.".encode())
    raw("pickle: builtins.getattr chain", b"cbuiltins\ngetattr\n(cos\n\nS'system'\ntR(S'" + touch.encode()
        + b"'\ntR.")
    raw("pickle: os.system in a zip's data.pkl", _zip({"archive/data.pkl": pickle.dumps(payloads["os.system"], 2),
                                                       "archive/version": b"3\n", "archive/byteorder": b"little"}))
    raw("pickle: numpy _reconstruct", b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00.")
    raw("pickle: 1,000,000 nested lists", b"\x80\x02" + b"(" * 1_000_000 + b"l" * 1_000_000 + b".")
    raw("pickle: a 4 GB string length", b"\x80\x04\x8d" + struct.pack("<Q", 4 << 30) + b"abc.")
    # wrong shapes, dtypes, tensors
    key = "roi_heads.box_predictor.cls_score.weight"
    state("predictor of 5 classes", lambda sd: sd.update({key: torch.zeros(5, sd[key].shape[1])}))
    state("a conv weight of the wrong shape", lambda sd: sd.update(
        {k: torch.zeros(3, 3) for k in list(sd)[:1]}))
    state("a missing key", lambda sd: sd.pop(next(k for k in sd if k.endswith(".weight"))))
    state("an extra key", lambda sd: sd.update({"extra.weight": torch.zeros(2)}))
    state("a 0-d tensor", lambda sd: sd.update({k: torch.tensor(1.0) for k in list(sd)[:1]}))
    state("int64 weights", lambda sd: sd.update({k: v.long() for k, v in sd.items()}))
    state("complex weights", lambda sd: sd.update({k: v.to(torch.complex64) if v.is_floating_point() else v
                                                   for k, v in sd.items()}))
    state("bool weights", lambda sd: sd.update({k: v.bool() for k, v in sd.items()}))
    state("a string as a weight", lambda sd: sd.update({k: "w" for k in list(sd)[:1]}))
    state("inf in a weight", lambda sd: sd.update({key: torch.full_like(sd[key], float("inf"))}))
    state("a sparse tensor", lambda sd: sd.update({key: sd[key].to_sparse()}))
    state("a view with huge strides", lambda sd: sd.update({key: torch.zeros(4).as_strided(sd[key].shape, (0, 0))}))
    variant("state_dict a list", state_dict=[1, 2])
    variant("state_dict empty", state_dict={})
    variant("class_names a string", class_names="cat")
    variant("class_names with a line break", class_names=["__background__", "c\nat", "dog"])
    variant("class_names 10**5 names", class_names=[f"c{i}" for i in range(100_000)])
    variant("format tag other", format="something.else")
    variant("version 99", version=99)
    variant("version a string", version="1")
    variant("meta a list", meta=[1])
    variant("no config", config=None)
    # bad configs
    config("num_classes a string", num_classes="x")
    config("num_classes NaN", num_classes=float("nan"))
    config("num_classes 10**30", num_classes=10**30)
    config("num_classes a list", num_classes=[3])
    config("builder a number", builder=5)
    config("builder unknown", builder="resnet1000")
    config("anchor_sizes a string", anchor_sizes="abc", aspect_ratios="abc")
    config("anchor_sizes of strings", anchor_sizes=[["x"]], aspect_ratios=[["y"]])
    config("anchor_sizes nested deeper", anchor_sizes=[[[16.0]]], aspect_ratios=[[[1.0]]])
    config("min_size a string", min_size="600")
    config("min_size 10**6", min_size=10**6)
    config("extra stride 3", extra={"stride": 3})
    config("extra a list", extra=[1])
    config("extra norm unknown", extra={"norm": "magic"})
    config("unknown key", colour="red")
    variant("config: the largest in range with no weights (would allocate GBs)", state_dict={}, class_names=[
        "__background__", *(f"c{i}" for i in range(9_999))], config={
        **good["config"], "builder": "paper", "num_classes": 10_000, "representation_size": 8192,
        "anchor_sizes": None, "aspect_ratios": None})
    # zip and file junk
    zbytes = folder / "_good.pt"
    torch.save(good, zbytes)
    data = zbytes.read_bytes()
    raw("truncated to half", data[: len(data) // 2])
    raw("last 100 bytes cut", data[:-100])
    raw("empty zip", _zip({}))
    raw("zip without data.pkl", _zip({"archive/version": b"3\n"}))
    raw("zip data.pkl not a pickle", _zip({"archive/data.pkl": b"hello", "archive/version": b"3\n"}))
    raw("zip with ../ entry names", _zip({"../../evil/data.pkl": pickle.dumps({}, 2), "archive/version": b"3\n"}))
    raw("zip bomb: a deflated 1 GB storage", _zip({"archive/data.pkl": pickle.dumps(good, 2)[:0] + _storage_pickle(),
                                                    "archive/version": b"3\n", "archive/byteorder": b"little",
                                                    "archive/data/0": bytes(1 << 30)}, compress=True))
    raw("zip claiming 10**10 elements over a 4-byte storage", _zip({
        "archive/data.pkl": _storage_pickle(size=10**10), "archive/version": b"3\n",
        "archive/byteorder": b"little", "archive/data/0": b"\x00" * 4}))
    raw("zero bytes", b"")
    raw("a PNG named .pt", b"\x89PNG\r\n\x1a\n" + bytes(64))
    raw("JSON", json.dumps(good["config"]).encode())
    raw("gzip", zlib.compress(data[:1000]))
    raw("random bytes", np.random.default_rng(0).bytes(1 << 16))
    d = folder / f"{len(cases):02d}.pt"
    d.mkdir(exist_ok=True)
    cases.append(("a folder", d))
    link = folder / f"{len(cases):02d}.pt"
    if not link.is_symlink():
        link.symlink_to("/dev/zero")
    cases.append(("a link to /dev/zero", link))
    zbytes.unlink()
    return cases


def _storage_pickle(size: int = 16) -> bytes:
    """A data.pkl rebuilding one float tensor of ``size`` elements from storage ``0``
    (torch's own layout, written by hand to claim any size)."""
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\nFloatStorage\n"
            b"q\x02X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04K\x10tq\x05QK\x00"
            + b"\x8a\x08" + struct.pack("<q", size) + b"\x85q\x06K\x01\x85q\x07\x89ccollections\nOrderedDict\nq\x08)"
            b"Rq\ttq\nRq\x0b.")


def _load_model(path: str) -> int:
    """What the GUI does with a chosen model file: the worker loads it
    (``app.jobs.load_detector``; a ``UserError`` is its one-line report), then the
    window's ``_model_ready`` hands its classes to the Session (anything raised there
    is an exception in a Qt slot: a traceback in the log)."""
    import torch

    from detector_app.app.jobs import load_detector
    from detector_app.app.session import Session
    from detector_app.domain.errors import UserError

    torch.set_num_threads(1)
    try:
        _detector, info = load_detector(path, "cpu")
    except UserError as exc:
        print(f"detector-app gui: error: {exc}", file=__import__("sys").stderr)
        return 2
    print(f"model {info.name} loaded: classes {', '.join(info.label_names)}")
    Session(detect_on_open=False).set_model_classes(info.class_names)
    return 0


def probe_checkpoints(work: Path, bases: dict[str, Path], quick: bool = False) -> list[Case]:
    import torch

    torch.set_num_threads(1)
    folder = work / "checkpoints"
    marker = folder / "PWNED"
    cases_files = checkpoint_cases(folder / "files", marker)
    if quick:
        cases_files = cases_files[::8]
    image = folder / "img.png"
    from scripts.adversarial.common import write_image

    write_image(image, 96, 64)
    coco = bases["coco_flat"]
    out: list[Case] = []
    probe = "hostile checkpoints"
    for i, (name, path) in enumerate(cases_files):
        runs: list[tuple[str, Any]] = [
            ("model loading (GUI)", lambda p=path: run_forked(_load_model, str(p), timeout=60)),
            ("detect", lambda p=path: run_cli(["detect", str(image), "--model", str(p), "--device", "cpu"],
                                              timeout=60)),
        ]
        if i % 3 == 0:
            runs.append(("evaluate", lambda p=path: run_cli(
                ["evaluate", "--data", str(coco), "--model", str(p), "--device", "cpu", "--limit", "2"], timeout=90)))
        for what, run in runs:
            o = run()
            problems = cli_problems(o, ok_codes=(0, 1, 2), rss_limit_mb=MODEL_RSS_LIMIT_MB)
            if marker.exists():
                problems.append("THE PAYLOAD RAN")
                marker.unlink()
            out.append(Case(probe, f"{name} | {what}", problems, first_line(o)))
    return out


# -- (d) images ------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(w: int, h: int, bits: int = 8, color: int = 2, rows: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, bits, color, 0, 0, 0)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    row = b"\x00" + bytes(max(1, (w * channels * bits + 7) // 8))
    idat = zlib.compress(rows if rows is not None else row * h, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _jpeg(rgb: np.ndarray, **kw: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _pil(img: Any, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif(orientation: int) -> bytes:
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHI", 0x0112, 3, 1) + struct.pack("<HH", orientation, 0) + struct.pack("<I", 0)
    return b"Exif\x00\x00" + tiff


def image_cases(folder: Path) -> list[tuple[str, Path]]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    png = _pil(Image.fromarray(rgb), "PNG")
    jpg = _jpeg(rgb)
    cases: list[tuple[str, Path]] = []

    def add(name: str, data: bytes, ext: str) -> None:
        sub = folder / f"{len(cases):02d}"
        sub.mkdir(exist_ok=True)
        path = sub / f"image{ext}"
        path.write_bytes(data)
        cases.append((name, path))

    sof = jpg.index(b"\xff\xc0")
    huge_jpeg = jpg[: sof + 5] + struct.pack(">HH", 65000, 65000) + jpg[sof + 9:]
    junk_jpeg = jpg[:sof] + b"\x00\x17" + jpg[sof: sof + 5] + struct.pack(">HH", 12000, 12000) + jpg[sof + 9:]
    add("truncated PNG (half)", png[: len(png) // 2], ".png")
    add("truncated JPEG (half)", jpg[: len(jpg) // 2], ".jpg")
    add("truncated JPEG (90 %)", jpg[: len(jpg) * 9 // 10], ".jpg")
    add("PNG without IDAT", png[:33] + _chunk(b"IEND", b""), ".png")
    add("PNG 9999x9999 (292 KB of zeros)", _png(9999, 9999, color=0), ".png")
    add("PNG header 30000x30000", _png(30000, 30000, rows=b"\x00" * 10), ".png")
    add("JPEG header 65000x65000", huge_jpeg, ".jpg")
    add("JPEG, junk before a 12000x12000 frame header", junk_jpeg, ".jpg")
    add("BMP header 50000x50000", b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 50000, 50000, 1, 24, 0, 0, 0, 0, 0, 0) + bytes(64), ".bmp")
    add("GIF header 65535x65535", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00,"
        + bytes(9) + b"\x02\x02D\x01\x00;", ".gif")
    add("TIFF header 60000x60000", _pil(Image.new("L", (8, 8)), "TIFF")[:0] + b"II*\x00" + struct.pack("<I", 8)
        + struct.pack("<H", 3) + struct.pack("<HHII", 256, 4, 1, 60000) + struct.pack("<HHII", 257, 4, 1, 60000)
        + struct.pack("<HHII", 258, 3, 1, 8) + struct.pack("<I", 0), ".tif")
    add("WebP header 16383x16383", b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10)
        + bytes(4) + (16382).to_bytes(3, "little") * 2, ".webp")
    add("PPM header 12000x12000 (small file)", b"P6\n12000 12000\n255\n" + bytes(1000), ".ppm")
    add("16-bit PNG", _pil(Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG"), ".png")
    add("16-bit RGB TIFF", _tiff16(rgb), ".tif")
    add("CMYK JPEG", _pil(Image.fromarray(rgb).convert("CMYK"), "JPEG"), ".jpg")
    add("1x1 PNG", _pil(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), ".png")
    add("1x1 JPEG", _jpeg(np.zeros((1, 1, 3), np.uint8)), ".jpg")
    add("gray + alpha PNG", _pil(Image.fromarray(rgb).convert("LA"), "PNG"), ".png")
    add("palette PNG with transparency", _pil(Image.fromarray(rgb).convert("P"), "PNG", transparency=0), ".png")
    add("1-bit PNG", _pil(Image.fromarray(rgb).convert("1"), "PNG"), ".png")
    frames = [Image.fromarray(np.roll(rgb, k * 10, 1)) for k in range(5)]
    add("animated GIF", _pil(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50), ".gif")
    add("EXIF orientation 6", _jpeg(rgb, exif=_exif(6)), ".jpg")
    add("EXIF orientation 65535", _jpeg(rgb, exif=_exif(65535)), ".jpg")
    add("progressive JPEG", _jpeg(rgb, progressive=True), ".jpg")
    add("10000x1 PNG", _png(10000, 1), ".png")
    add("1x10000 PNG", _png(1, 10000), ".png")
    add("3x9000 PNG", _png(3, 9000), ".png")
    add("float32 TIFF", _pil(Image.fromarray(rgb[..., 0].astype(np.float32) / 255), "TIFF"), ".tif")
    add("RGBA PNG", _pil(Image.fromarray(np.dstack([rgb, rgb[..., :1]])), "PNG"), ".png")
    add("16-bit PGM", b"P5\n4 4\n65535\n" + bytes(32), ".pgm")
    add("zero bytes", b"", ".png")
    add("text named .png", b"hello, not an image\n" * 10, ".png")
    add("PNG with bad CRCs", png[:29] + b"\x00\x00\x00\x00" + png[33:], ".png")
    add("JPEG with 200 APP segments", jpg[:2] + (b"\xff\xe5" + struct.pack(">H", 60000) + bytes(59998)) * 200
        + jpg[2:], ".jpg")
    sub = folder / f"{len(cases):02d}"
    sub.mkdir(exist_ok=True)
    if not (sub / "image.png").is_symlink():
        (sub / "image.png").symlink_to("/dev/zero")
    cases.append(("a link to /dev/zero named .png", sub / "image.png"))
    sub = folder / f"{len(cases):02d}"
    (sub / "folder.png").mkdir(parents=True, exist_ok=True)
    (sub / "ok.png").write_bytes(png)
    cases.append(("a folder named .png", sub / "folder.png"))
    return cases


def _tiff16(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".tif", (rgb.astype(np.uint16) * 257)[..., ::-1])
    assert ok
    return buf.tobytes()


def _session_open(path: str) -> int:
    """Open the image in a Session and show it (what the app does; no detection). A
    ``UserError`` from opening is what the window puts in its status bar: one line."""
    from detector_app.app.session import Event, Session
    from detector_app.domain.errors import UserError

    errors: list[str] = []
    session = Session(detect_on_open=False)
    session.subscribe(Event.ERROR, errors.append)
    try:
        session.open_paths([path])
    except UserError as exc:
        print(f"detector-app gui: error: {exc}", file=__import__("sys").stderr)
        return 2
    for i in range(len(session.items)):
        session.go_to(i)
    for e in errors:
        print(f"shown: {e}")
    session.close()
    return 0


def probe_images(work: Path, quick: bool = False) -> list[Case]:
    import torch

    torch.set_num_threads(1)
    import detector_app.app.session  # noqa: F401 - imported once, not in every child

    cases_files = image_cases(work / "images")
    if quick:
        cases_files = cases_files[::6]
    out: list[Case] = []
    probe = "odd images"
    for name, path in cases_files:
        o = run_cli(["detect", str(path), "--device", "cpu"], timeout=120)
        problems = cli_problems(o, ok_codes=(0, 1, 2), rss_limit_mb=MODEL_RSS_LIMIT_MB)
        if o.rc == 1 and "skipped:" not in o.stderr + o.stdout:
            problems.append("exit 1 without naming the skipped file")
        out.append(Case(probe, f"{name} | detect", problems, f"{first_line(o)} [{o.peak_rss_mb:.0f} MB]"))
        o = run_forked(_session_open, str(path), timeout=60)
        problems = cli_problems(o, ok_codes=(0, 2), rss_limit_mb=MODEL_RSS_LIMIT_MB)
        out.append(Case(probe, f"{name} | session", problems, f"{first_line(o)} [{o.peak_rss_mb:.0f} MB]"))
    return out
