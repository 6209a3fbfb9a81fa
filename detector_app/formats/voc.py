"""Pascal VOC XML: one ``Annotations/<stem>.xml`` per image.

Pixel convention (VOC is 1-based and inclusive; the project is 0-based and
continuous, pixel ``i`` spanning ``[i, i + 1)``):

* write: ``xmin = round(x1) + 1``, ``ymin = round(y1) + 1``,
  ``xmax = round(x2)``, ``ymax = round(y2)`` (half rounds up; a box is at
  least one pixel wide, so ``xmax >= xmin``);
* read: ``x1 = xmin - 1``, ``y1 = ymin - 1``, ``x2 = xmax``, ``y2 = ymax``.

So ``xmin = 1`` is pixel column 0 (``x1 = 0``), and a box covering a whole
``W``-pixel row is ``xmin = 1, xmax = W``. Integer boxes survive a round trip
exactly; others move by at most half a pixel per edge (±1 px). Coordinates
written as floats by other tools are accepted.

Layout written: ``Annotations/*.xml``, ``JPEGImages/`` (images, placed by the
exporter), ``ImageSets/Main/trainval.txt`` listing every image (plus
``{train,val}.txt`` when a split is given), and a
``labels.txt`` keeping the class order (VOC has no class list). Reading takes
a folder with ``Annotations/`` (or a folder of ``.xml`` files, or one file).
"""

from __future__ import annotations

import glob
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from detector_app.domain.annotations import ImageRecord
from detector_app.domain.errors import FormatError
from detector_app.domain.labels import LabelError, LabelMap
from detector_app.domain.media_types import IMAGE_EXTENSIONS
from detector_app.formats.dataset import (
    Dataset,
    check_size,
    make_annotation,
    make_box,
    read_nonempty_lines,
    record_relpaths,
    relpath_posix,
    unique_stems,
    write_text_file,
)


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def box_to_voc(x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int]:
    """Project box -> VOC ``(xmin, ymin, xmax, ymax)``, 1-based inclusive."""
    xmin, ymin = _round_half_up(x1) + 1, _round_half_up(y1) + 1
    xmax, ymax = max(_round_half_up(x2), xmin), max(_round_half_up(y2), ymin)
    return xmin, ymin, xmax, ymax


def voc_to_box(xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[float, float, float, float]:
    """VOC ``(xmin, ymin, xmax, ymax)`` -> project ``(x1, y1, x2, y2)``."""
    return xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)


# -- reading ------------------------------------------------------------------
def _text(where: str, parent: ET.Element, tag: str, required: bool = True) -> str | None:
    el = parent.find(tag)
    if el is None or el.text is None or not el.text.strip():
        if required:
            raise FormatError(f"{where}: missing <{tag}>")
        return None
    return el.text.strip()


def _number(where: str, parent: ET.Element, tag: str) -> float:
    text = _text(where, parent, tag)
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        raise FormatError(f"{where}/<{tag}>: not a number: {text!r:.40}") from None
    if not math.isfinite(value):
        raise FormatError(f"{where}/<{tag}>: not a finite number: {text!r:.40}")
    return value


#: Image files looked for when an XML's <filename> names another extension (a .png saved as .jpg).
VOC_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS


def _resolve_image(root: Path, xml_path: Path, filename: str, path_text: str | None) -> str:
    """Image path relative to ``root``: JPEGImages/, the XML's folder, or <path>; else
    the same stem with another image extension in JPEGImages/ or the XML's folder."""
    candidates = [root / "JPEGImages" / filename, xml_path.parent / filename, root / filename]
    if path_text:
        p = Path(path_text)
        candidates.append(p if p.is_absolute() else root / p)
    for c in candidates:
        try:
            if c.is_file():
                return relpath_posix(c, root)
        except (OSError, ValueError):
            continue
    for folder in (root / "JPEGImages", xml_path.parent):  # the same name with another extension
        stem = Path(filename).stem
        try:
            found = sorted(f for f in folder.glob(f"{glob.escape(stem)}.*")
                           if f.suffix.lower() in VOC_IMAGE_EXTENSIONS and f.is_file())
        except (OSError, ValueError):
            found = []
        if found:
            return relpath_posix(found[0], root)
    if path_text and not Path(path_text).is_absolute():
        return relpath_posix(root / path_text, root)  # written by write_voc, image not there now
    default = candidates[0] if (root / "JPEGImages").is_dir() else candidates[1]
    return relpath_posix(default, root)


def parse_voc_xml(xml_path: Path, root: Path) -> ImageRecord:
    """One VOC XML file as an :class:`ImageRecord` (path relative to ``root``)."""
    try:
        raw = xml_path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{xml_path}: cannot read ({exc.strerror or exc})") from None
    if b"<!ENTITY" in raw or b"<!entity" in raw:
        # entities would silently rewrite names (<name>&c;</name> read as "cat") or expand without bound
        raise FormatError(f"{xml_path}: XML entity declarations are not accepted in a VOC annotation")
    try:
        ann = ET.fromstring(raw)
    except ET.ParseError as exc:
        line, col = exc.position
        raise FormatError(f"{xml_path}: invalid XML at line {line}, column {col + 1}") from None
    except LookupError as exc:  # an encoding Python does not know
        raise FormatError(f"{xml_path}: {exc} (declared in the XML header)") from None
    except ValueError as exc:
        raise FormatError(f"{xml_path}: cannot read ({exc})") from None
    if ann.tag != "annotation":
        raise FormatError(f"{xml_path}: root element is <{ann.tag}>, expected <annotation>")
    where = f"{xml_path}: <annotation>"
    filename = _text(where, ann, "filename")
    assert filename is not None
    size = ann.find("size")
    width = height = None
    if size is not None:
        w, h = _number(f"{where}/<size>", size, "width"), _number(f"{where}/<size>", size, "height")
        if w != 0 or h != 0:  # some tools write 0 for "unknown"
            width, height = check_size(f"{where}/<size>", w, h)
    rec = ImageRecord(path=_resolve_image(root, xml_path, filename, _text(where, ann, "path", False)),
                      width=width, height=height)
    for k, obj in enumerate(ann.findall("object"), start=1):
        owhere = f"{xml_path}: <object> #{k}"
        name = _text(owhere, obj, "name")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise FormatError(f"{owhere}: missing <bndbox>")
        bw = f"{owhere}/<bndbox>"
        xmin, ymin, xmax, ymax = (_number(bw, bnd, t) for t in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise FormatError(f"{bw}: degenerate box xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g}")
        box = make_box(bw, *voc_to_box(xmin, ymin, xmax, ymax), width, height)
        rec.annotations.append(make_annotation(owhere, box, name))  # type: ignore[arg-type]
    return rec


def read_voc(path: str | Path) -> Dataset:
    """Read a VOC dataset folder (``Annotations/*.xml``), a folder of XML files, or one XML file."""
    path = Path(path)
    if path.is_file():
        root, xml_files = path.parent, [path]
        if root.name == "Annotations":
            root = root.parent
    else:
        folder = path / "Annotations" if (path / "Annotations").is_dir() else path
        root = path
        xml_files = sorted(folder.glob("*.xml"))
        if not xml_files:
            raise FormatError(f"{path}: no VOC .xml files found (expected Annotations/*.xml)")
    records = [parse_voc_xml(x, root) for x in xml_files]
    seen: dict[str, Path] = {}
    for rec, x in zip(records, xml_files):
        if rec.path in seen:
            raise FormatError(f"{x}: image {rec.path} is already annotated by {seen[rec.path].name}")
        seen[rec.path] = x
    names: list[str] = []
    labels_file = root / "labels.txt"
    if labels_file.is_file():
        names = read_nonempty_lines(labels_file)
        if len(set(names)) != len(names):
            raise FormatError(f"{labels_file}: duplicate class names")
    try:
        label_map = LabelMap(names)
    except LabelError as exc:
        raise FormatError(f"{labels_file}: {exc}") from None
    for name in sorted({a.label for r in records for a in r.annotations} - set(label_map)):
        label_map.add(name)
    split: dict[str, str] = {}
    stem_to_key = {x.stem: r.key for r, x in zip(records, xml_files)}
    sets = root / "ImageSets" / "Main"
    # train / val / test, and CVAT's "default" (any other list is a split of that name); trainval
    # (every image, as this project writes it) names no split of its own
    lists = sorted(f for f in sets.glob("*.txt") if f.stem != "trainval") if sets.is_dir() else []
    for f in lists:
        for line in read_nonempty_lines(f):
            stem = line.split()[0]
            if stem in stem_to_key and not (len(line.split()) > 1 and line.split()[1] == "-1"):
                split.setdefault(stem_to_key[stem], f.stem)
    return Dataset(root=root, label_map=label_map, images=records, format="voc", source=path, split=split)


# -- writing ------------------------------------------------------------------
_OBJECT = """  <object>
{name}    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>0</difficult>
    <bndbox>
      <xmin>{0}</xmin>
      <ymin>{1}</ymin>
      <xmax>{2}</xmax>
      <ymax>{3}</ymax>
    </bndbox>
  </object>
"""


def _xml_text(tag: str, text: str, indent: str) -> str:
    """One text element as ElementTree writes it (``<tag />`` when empty)."""
    if not text:
        return f"{indent}<{tag} />\n"
    return f"{indent}<{tag}>{xml_escape(text)}</{tag}>\n"


def voc_xml(record: ImageRecord, filename: str, image_path: str, folder: str = "JPEGImages") -> str:
    """The VOC XML text of one record. Raises :class:`FormatError` if its size is unknown.

    Built from a template, character for character what ElementTree's
    ``indent`` + ``tostring`` give for the same tree (a test checks it), about
    five times faster: exports write one file per image.
    """
    if record.width is None or record.height is None:
        raise FormatError(f"{record.key}: image size unknown; cannot write VOC <size>")
    parts = [
        "<annotation>\n",
        _xml_text("folder", folder, "  "),
        _xml_text("filename", filename, "  "),
        _xml_text("path", image_path, "  "),
        "  <source>\n    <database>Faster R-CNN Studio</database>\n  </source>\n",
        f"  <size>\n    <width>{int(record.width)}</width>\n    <height>{int(record.height)}</height>\n"
        "    <depth>3</depth>\n  </size>\n",
        "  <segmented>0</segmented>\n",
    ]
    for ann in record.annotations:
        parts.append(_OBJECT.format(*box_to_voc(*ann.box.to_tuple()), name=_xml_text("name", ann.label, "    ")))
    parts.append("</annotation>\n")
    return "".join(parts)


def write_voc(dataset: Dataset, out_dir: str | Path, stems: list[str] | None = None,
              staged: bool = False) -> Path:
    """Write ``dataset`` as VOC under ``out_dir``; returns ``out_dir``.

    ``stems`` names each record's XML (default :func:`unique_stems`); images
    already under ``out_dir/JPEGImages`` are referenced by name, others by
    their path relative to ``out_dir`` in ``<path>``. Each file is written
    atomically, unless ``staged``: ``out_dir`` is then a private staging folder
    the caller syncs and renames as a whole (``app.export``) and files are
    written in place (:func:`~detector_app.formats.dataset.write_text_file`).
    """
    out_dir = Path(out_dir)
    ann_dir = out_dir / "Annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    stems = stems or unique_stems(dataset.images)
    ann_prefix = os.path.join(str(ann_dir), "")
    rels = record_relpaths(dataset.root, [r.path for r in dataset.images], out_dir)
    for rec, stem, rel in zip(dataset.images, stems, rels):
        text = voc_xml(rec, rec.path.rsplit("/", 1)[-1], rel)
        write_text_file(f"{ann_prefix}{stem}.xml", text, staged)
    write_text_file(out_dir / "labels.txt", "".join(f"{n}\n" for n in dataset.label_map), staged)
    # loaders that start from an image-set list (torchvision's VOCDetection, CVAT's importer) need one
    sets = out_dir / "ImageSets" / "Main"
    sets.mkdir(parents=True, exist_ok=True)
    write_text_file(sets / "trainval.txt", "".join(f"{s}\n" for s in stems), staged)
    if dataset.split:
        for part in ("train", "val"):
            lines = [s for r, s in zip(dataset.images, stems) if dataset.split.get(r.key) == part]
            write_text_file(sets / f"{part}.txt", "".join(f"{s}\n" for s in lines), staged)
    return out_dir


__all__ = ["box_to_voc", "parse_voc_xml", "read_voc", "voc_to_box", "voc_xml", "write_voc"]
