"""The bundled samples: copied once into the config folder, with the photographs;
a copy made before a sample was added gains it, and user changes stay."""

from __future__ import annotations

import shutil
from pathlib import Path

from detector_app.app.scan import scan_media
from detector_app.app.settings import sample_project

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_samples_include_the_photographs_with_their_licences() -> None:
    photos = sorted(p.name for p in (SAMPLES / "photos").glob("*.jpg"))
    assert photos == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg"]
    licences = (SAMPLES / "photos" / "LICENSES.md").read_text()
    assert all(name in licences for name in photos) and "CC0" in licences and "public domain" in licences.lower()
    assert sum(p.stat().st_size for p in (SAMPLES / "photos").iterdir()) < 400_000


def test_sample_copy_is_made_once_and_gains_new_samples(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SAMPLES, src)
    copy = sample_project(src)
    assert copy is not None and {"photos/chelsea.jpg", "images/000000.jpg", "shapes.mp4"} <= set(scan_media(copy))
    # an older copy: no photographs yet, and an annotation file the user changed
    shutil.rmtree(copy / "photos")
    (copy / "annotations.json").write_text("{}")
    assert sample_project(src) == copy
    assert (copy / "photos" / "chelsea.jpg").read_bytes() == (src / "photos" / "chelsea.jpg").read_bytes()
    assert (copy / "annotations.json").read_text() == "{}"
    assert not [p for p in copy.iterdir() if p.name.endswith(".tmp")]
