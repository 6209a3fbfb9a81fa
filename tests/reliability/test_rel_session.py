"""The session (what the window shows): files that vanish while the
folder is open, EXIF-rotated photos annotated upright, images over the pixel
limit, non-ASCII projects and exports, a second instance."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.app.export import ExportOptions, export_dataset
from detector_app.app.session import Event, Session
from detector_app.app.store import ProjectStore
from detector_app.domain.boxes import Box
from detector_app.domain.errors import UserError
from detector_app.formats import load_dataset
from detector_app.media import images
from detector_app.media.imagesize import image_size
from tests.helpers.files import write_png, write_video


class Events:
    def __init__(self, s: Session) -> None:
        self.log: list[tuple[Event, tuple]] = []
        for event in (Event.ERROR, Event.STATUS, Event.DETECT, Event.CURRENT):
            s.subscribe(event, lambda *a, e=event: self.log.append((e, a)))

    def of(self, name: Event) -> list[tuple]:
        return [a for n, a in self.log if n == name]


@pytest.fixture
def session() -> Session:
    s = Session(detect_on_open=True)
    yield s
    s.close()


def _boxes_on_disk(root: Path) -> dict[str, list[tuple[float, ...]]]:
    with ProjectStore(root, read_only=True, autosave_interval=None) as st:
        return {r.key: [a.box.to_tuple() for a in r.annotations] for r in st.records() if r.annotations}


def test_files_vanishing_while_the_folder_is_open(tmp_path: Path, session: Session) -> None:
    root = tmp_path / "proj"
    for name in ("a.png", "b.png", "c.png"):
        write_png(root / name)
    write_video(root / "d.avi", frames=6)
    session.open_paths([root])
    ev = Events(session)
    session.choose_label("cat")
    session.add_box(Box(1, 1, 10, 10))  # on a.png
    (root / "b.png").unlink()
    session.step(1)
    assert session.index == 1 and session.record is None and session.image.shape == (48, 64, 3)
    assert ev.of(Event.ERROR) == [(f"{root / 'b.png'}: no such file",)]
    assert ev.of(Event.DETECT) == []
    session.step(1)  # c.png: fine, and usable
    assert session.key == "c.png"
    (root / "c.png").unlink()  # vanishes while shown: the record lives on, edits still save
    session.add_box(Box(2, 2, 12, 12))
    session.step(1)  # the video
    assert session.is_video() and session.frame == 0
    (root / "d.avi").unlink()  # the open reader keeps its file handle
    session.go_frame(3)
    assert session.frame == 3 and session.key == "d.avi#3"
    session.step(-1)
    assert session.key is None and "c.png: no such file" in ev.of(Event.ERROR)[-1][0]
    session.go_to(3)
    assert "d.avi: no such file" in ev.of(Event.ERROR)[-1][0] and session.record is None
    session.go_to(0)
    assert session.key == "a.png" and [a.label for a in session.record.annotations] == ["cat"]
    session.close()
    assert _boxes_on_disk(root) == {"a.png": [(1, 1, 10, 10)], "c.png": [(2, 2, 12, 12)]}


def _exif_jpeg(path: Path, rgb: np.ndarray, orientation: int) -> None:
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHI", 0x0112, 3, 1)
    tiff += struct.pack("<HH", orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])


def test_exif_rotated_photo_is_annotated_and_exported_upright(tmp_path: Path, session: Session) -> None:
    """Stored 64 wide x 40 high, EXIF 6 (rotate 90 cw): shown 40 x 64. A box low in
    the upright frame (y > 40, impossible in the stored frame) is kept as drawn, and
    the export says 40 x 64 - the frame the boxes are in."""
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:10, :20] = (255, 0, 0)  # top-left as stored -> top-right upright
    root = tmp_path / "photos"
    _exif_jpeg(root / "p.jpg", stored, 6)
    session.open_paths([root])
    assert session.image.shape == (64, 40, 3)
    assert session.image[2:18, 32:38, 0].mean() > 200 and session.image[2:18, 2:8, 0].mean() < 50
    assert (session.record.width, session.record.height) == (40, 64)
    assert image_size(root / "p.jpg") == (40, 64)  # the header size (what the store lists) agrees
    session.choose_label("cat")
    session.add_box(Box(5, 45, 35, 62))
    assert session.record.annotations[0].box.to_tuple() == (5, 45, 35, 62)
    out = tmp_path / "out"
    export_dataset(session.store, "coco", out, ExportOptions())
    rec = load_dataset(out).images[0]
    assert (rec.width, rec.height) == (40, 64)
    assert rec.annotations[0].box.to_tuple() == pytest.approx((5, 45, 35, 62))
    assert cv2.imread(str(out / rec.path)).shape[:2] in ((40, 64), (64, 40))  # copied as is (EXIF kept)
    assert images.read_image(out / rec.path).shape == (64, 40, 3)


def test_image_over_the_pixel_limit_is_previewed_not_edited(tmp_path: Path, session: Session,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "big"
    write_png(root / "a.png", 20, 10)
    big = np.zeros((400, 600, 3), np.uint8)
    big[:, :300] = (0, 255, 0)
    images.write_image(root / "b.jpg", big)
    write_png(root / "c.png", 300, 200)
    write_png(root / "d.png", 20, 10)
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)  # b.jpg (0.24 MP) and c.png (0.06 MP) are "huge"
    session.open_paths([root])
    ev = Events(session)
    session.step(1)
    assert session.index == 1 and session.record is None and session.trace is None
    assert session.image.shape == (100, 150, 3)  # decoded at 1/4 by the codec
    assert session.image[50, 20, 1] > 200 and session.image[50, 130, 1] < 40
    (msg,), = ev.of(Event.ERROR)
    assert msg == (f"{root / 'b.jpg'}: image is 600x400 pixels (0.24 megapixels), over the 0.05 megapixel "
                   "limit; downscale it to view, detect or annotate it (shown downscaled 1/4, not editable)")
    assert ev.of(Event.DETECT) == []
    assert session.add_box(Box(1, 1, 5, 5)) is None
    session.step(1)  # a PNG this large cannot be previewed: the grey placeholder, the same message
    assert session.record is None and session.image.shape == (48, 64, 3)
    assert ev.of(Event.ERROR)[-1][0].startswith(f"{root / 'c.png'}: image is 300x200 pixels")
    session.step(1)
    assert session.key == "d.png" and len(ev.of(Event.DETECT)) == 1


def test_non_ascii_project_and_exports_round_trip(tmp_path: Path, session: Session) -> None:
    root = tmp_path / "projét 日本"
    write_png(root / "é.png")
    write_png(root / "子フォルダ" / "猫 #1.png", 80, 30)
    write_video(root / "vidéo.avi", frames=4)
    session.open_paths([root])
    assert session.items == ["vidéo.avi", "é.png", "子フォルダ/猫 #1.png"]
    session.choose_label("chat")
    session.go_frame(2)
    session.add_box(Box(3, 4, 30, 20))
    session.go_to(1)
    session.add_box(Box(1, 2, 20, 30))
    session.go_to(2)
    session.add_box(Box(10, 5, 70, 25))
    expected = {"vidéo.avi#2": (3, 4, 30, 20), "é.png": (1, 2, 20, 30), "子フォルダ/猫 #1.png": (10, 5, 70, 25)}
    for fmt in ("coco", "voc", "yolo"):
        out = tmp_path / f"exports ü/{fmt} ñ"
        result = export_dataset(session.store, fmt, out, ExportOptions())
        assert result.images == 3 and result.annotations == 3 and not result.skipped
        ds = load_dataset(out)
        got = sorted(tuple(round(v) for v in r.annotations[0].box.to_tuple()) for r in ds.images)
        assert got == sorted(expected.values()), fmt
        for r in ds.images:
            assert images.read_image(ds.root / r.path).shape[:2] == (r.height, r.width)
    session.close()
    assert {k: v[0] for k, v in _boxes_on_disk(root).items()} == expected


def test_second_instance_is_told_which_project_and_the_first_keeps_working(tmp_path: Path, session: Session) -> None:
    root = tmp_path / "shared"
    write_png(root / "a.png")
    session.open_paths([root])
    other = Session(detect_on_open=False)
    with pytest.raises(UserError) as info:
        other.open_paths([root])
    assert str(info.value) == f"{root}: the project is already open in this program"
    assert other.store is None
    session.choose_label("cat")
    assert session.add_box(Box(1, 1, 5, 5)) is not None  # the first is unaffected
    session.close()
    other.open_paths([root])  # free again
    assert [a.label for a in other.record.annotations] == ["cat"]
    other.close()
