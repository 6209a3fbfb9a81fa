"""Probe (b): mutated annotation files of every format through ``convert`` and ``import``.

Each mutation is applied to a fresh copy of a small valid dataset (``datasets.py``);
then ``detector-app convert`` (to another format) and ``detector-app import`` (the
dataset folder opened as a project) run on it, each in its own process. A run passes
when it exits 0, or 2 with one ``detector-app CMD: error: ...`` line and no traceback,
within the time limit and under ``RSS_LIMIT_MB``; after a successful run nothing from
``private/`` (beside the dataset) may be in the output or the project.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.adversarial.common import Case, cli_problems, files_reaching_outside, first_line, run_cli
from scripts.adversarial.datasets import BASES, CaseDir, case_dir, project_records_outside, token_in_tree

Mutation = Callable[[CaseDir], None]
#: A convert / import of a mutated file of a few KB must end within this (seconds).
CASE_TIME_S = 20.0


# -- byte-level mutations, for any file -------------------------------------------------
def _bytes_mutations(rel: str) -> list[tuple[str, Mutation]]:
    def edit(fn: Callable[[bytes], bytes]) -> Mutation:
        def apply(c: CaseDir) -> None:
            p = c.ds / rel
            p.write_bytes(fn(p.read_bytes()))
        return apply

    def flip(seed: int, n: int) -> Callable[[bytes], bytes]:
        def f(b: bytes) -> bytes:
            rng = random.Random(seed)
            out = bytearray(b)
            for _ in range(n):
                if out:
                    out[rng.randrange(len(out))] = rng.randrange(256)
            return bytes(out)
        return f

    return [
        (f"{rel}: empty", edit(lambda b: b"")),
        (f"{rel}: first byte only", edit(lambda b: b[:1])),
        (f"{rel}: cut at half", edit(lambda b: b[: len(b) // 2])),
        (f"{rel}: last byte cut", edit(lambda b: b[:-1])),
        (f"{rel}: 1 byte flipped", edit(flip(1, 1))),
        (f"{rel}: 8 bytes flipped", edit(flip(2, 8))),
        (f"{rel}: 64 bytes flipped", edit(flip(3, 64))),
        (f"{rel}: NUL in the middle", edit(lambda b: b[: len(b) // 2] + b"\x00" + b[len(b) // 2:])),
        (f"{rel}: UTF-16", edit(lambda b: b.decode("utf-8", "replace").encode("utf-16"))),
        (f"{rel}: Latin-1 bytes", edit(lambda b: b.replace(b"a", b"\xe9", 3))),
        (f"{rel}: 1 MB of random bytes", edit(lambda b: random.Random(4).randbytes(1 << 20))),
        (f"{rel}: written twice", edit(lambda b: b + b)),
    ]


# -- JSON (COCO, LabelMe) -----------------------------------------------------------------
BIG = 10**400
DIGITS = "9" * 5000


def _json_edit(rel: str, fn: Callable[[Any], Any], raw: dict[str, str] | None = None) -> Mutation:
    """Load ``rel``, let ``fn`` change the object (or return a new one), write it back;
    ``raw`` replaces placeholder strings in the text (numbers JSON cannot be given as)."""
    def apply(c: CaseDir) -> None:
        p = c.ds / rel
        data = json.loads(p.read_text(encoding="utf-8"))
        new = fn(data)
        data = data if new is None else new
        ctx = {"SECRET_ABS": str(c.secret_png), "TOKEN_ABS": str(c.secret_txt)}
        text = json.dumps(data, allow_nan=True)
        for k, v in ctx.items():
            text = text.replace(k, v)
        for k, v in (raw or {}).items():
            text = text.replace(json.dumps(k), v)
        p.write_text(text, encoding="utf-8")
    return apply


def _set(path: list[Any], value: Any) -> Callable[[Any], None]:
    def fn(data: Any) -> None:
        obj = data
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return fn


def _del(path: list[Any]) -> Callable[[Any], None]:
    def fn(data: Any) -> None:
        obj = data
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return fn


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _number_cases(prefix: str, path: list[Any]) -> list[tuple[str, Callable[[Any], Any], dict[str, str] | None]]:
    """A number at ``path`` replaced by hostile values."""
    vals: list[tuple[str, Any, dict[str, str] | None]] = [
        ("400-digit int", BIG, None), ("5000 digits", "@D", {"@D": DIGITS}), ("5000-digit float", "@F",
                                                                              {"@F": DIGITS + ".5"}),
        ("-1", -1, None), ("0", 0, None), ("1.5", 1.5, None), ("NaN", float("nan"), None),
        ("Infinity", float("inf"), None), ("1e308", 1e308, None), ("string", "64", None), ("null", None, None),
        ("true", True, None), ("list", [1], None), ("object", {"a": 1}, None), ("-0.0", -0.0, None),
        ("1e-320", 1e-320, None),
    ]
    return [(f"{prefix}={name}", _set(path, v), raw) for name, v, raw in vals]


def _coco_mutations(rel: str, image_dir: str) -> list[tuple[str, Mutation]]:
    """``image_dir``: where file_name entries are relative to, from the dataset folder."""
    up = "../" * (len(Path(image_dir).parts) + 1)  # from image_dir to the case folder
    cases: list[tuple[str, Callable[[Any], Any], dict[str, str] | None]] = []
    cases += _number_cases("images[0].width", ["images", 0, "width"])
    cases += _number_cases("annotations[0].bbox[2]", ["annotations", 0, "bbox", 2])
    cases += _number_cases("annotations[0].category_id", ["annotations", 0, "category_id"])
    cases += _number_cases("annotations[0].image_id", ["annotations", 0, "image_id"])[:8]
    cases += _number_cases("images[0].id", ["images", 0, "id"])[:6]
    cases += [
        ("bbox all 1e308", _set(["annotations", 0, "bbox"], [1e308] * 4), None),
        ("bbox zero", _set(["annotations", 0, "bbox"], [0, 0, 0, 0]), None),
        ("bbox negative size", _set(["annotations", 0, "bbox"], [10, 10, -5, -5]), None),
        ("bbox far outside", _set(["annotations", 0, "bbox"], [-1e9, -1e9, 1e3, 1e3]), None),
        ("bbox 3 numbers", _set(["annotations", 0, "bbox"], [1, 2, 3]), None),
        ("bbox of strings", _set(["annotations", 0, "bbox"], ["1", "2", "3", "4"]), None),
        ("bbox an object", _set(["annotations", 0, "bbox"], {"x": 1}), None),
        ("bbox nested 100000 deep", _set(["annotations", 0, "bbox"], "@N"), {"@N": _deep(100000)}),
        ("root nested 100000 deep", lambda d: "@N", {"@N": _deep(100000)}),
        ("root a list", lambda d: [d], None),
        ("root a string", lambda d: "images", None),
        ("no images", _del(["images"]), None),
        ("no annotations", _del(["annotations"]), None),
        ("no categories", _del(["categories"]), None),
        ("images an object", _set(["images"], {"0": 1}), None),
        ("categories a string", _set(["categories"], "cat"), None),
        ("image without file_name", _del(["images", 0, "file_name"]), None),
        ("image without id", _del(["images", 0, "id"]), None),
        ("annotation without bbox", _del(["annotations", 0, "bbox"]), None),
        ("category without name", _del(["categories", 0, "name"]), None),
        ("duplicate image id", _set(["images", 1, "id"], 1), None),
        ("duplicate annotation id", _set(["annotations", 1, "id"], 1), None),
        ("duplicate category name", _set(["categories", 1, "name"], "cat"), None),
        ("category name empty", _set(["categories", 0, "name"], ""), None),
        ("category name newline", _set(["categories", 0, "name"], "a\nb"), None),
        ("category name RTL override", _set(["categories", 0, "name"], "\u202ecat"), None),
        ("category name emoji", _set(["categories", 0, "name"], "\U0001f431 cat"), None),
        ("category name lone surrogate", _set(["categories", 0, "name"], "@S"), {"@S": '"\\ud800"'}),
        ("category name 100k chars", _set(["categories", 0, "name"], "c" * 100_000), None),
        ("category name a number", _set(["categories", 0, "name"], 5), None),
        ("category name NUL", _set(["categories", 0, "name"], "c\x00t"), None),
        ("file_name ../ to a private image", _set(["images", 0, "file_name"], f"{up}private/secret.png"), None),
        ("file_name absolute private image", _set(["images", 0, "file_name"], "SECRET_ABS"), None),
        ("file_name /etc/passwd", _set(["images", 0, "file_name"], "/etc/passwd"), None),
        ("file_name NUL", _set(["images", 0, "file_name"], "img0\x00.png"), None),
        ("file_name 5000 chars", _set(["images", 0, "file_name"], "x" * 5000 + ".png"), None),
        ("file_name lone surrogate", _set(["images", 0, "file_name"], "@S"), {"@S": '"img\\ud800.png"'}),
        ("file_name surrogate-escaped byte", _set(["images", 0, "file_name"], "@S"), {"@S": '"img\\udcff.png"'}),
        ("file_name 300-byte component", _set(["images", 0, "file_name"], "é" * 150 + ".png"), None),
        ("file_name empty", _set(["images", 0, "file_name"], ""), None),
        ("file_name '.'", _set(["images", 0, "file_name"], "."), None),
        ("file_name '..'", _set(["images", 0, "file_name"], ".."), None),
        ("file_name a folder", _set(["images", 0, "file_name"], "sub/"), None),
        ("file_name windows drive", _set(["images", 0, "file_name"], "C:\\Windows\\win.png"), None),
        ("file_name backslash traversal", _set(["images", 0, "file_name"],
                                               (up + "private/secret.png").replace("/", "\\")), None),
        ("file_name file: URL", _set(["images", 0, "file_name"], "file:///etc/passwd"), None),
        ("file_name ~", _set(["images", 0, "file_name"], "~/secret.png"), None),
        ("file_name newline", _set(["images", 0, "file_name"], "img0.png\nimg1.png"), None),
        ("file_name /dev/zero", _set(["images", 0, "file_name"], "/dev/zero"), None),
        ("file_name /proc/self/environ", _set(["images", 0, "file_name"], "/proc/self/environ"), None),
        ("frame_index -1", _set(["images", 0, "frame_index"], -1), None),
        ("frame_index 10**12", _set(["images", 0, "frame_index"], 10**12), None),
        ("frame_index string", _set(["images", 0, "frame_index"], "1"), None),
        ("iscrowd 2", _set(["annotations", 0, "iscrowd"], 2), None),
        ("iscrowd string", _set(["annotations", 0, "iscrowd"], "1"), None),
        ("score NaN", _set(["annotations", 0, "score"], float("nan")), None),
        ("score 400 digits", _set(["annotations", 0, "score"], BIG), None),
        ("score string", _set(["annotations", 0, "score"], "high"), None),
        ("attributes.source model", _set(["annotations", 0, "attributes"], {"source": "model"}), None),
        ("attributes.source a list", _set(["annotations", 0, "attributes"], {"source": ["x"]}), None),
        ("attributes a string", _set(["annotations", 0, "attributes"], "model"), None),
        ("200000 annotations", lambda d: d.update(annotations=[
            {"id": i + 1, "image_id": 1, "category_id": d["categories"][0]["id"], "bbox": [1, 1, 5, 5]}
            for i in range(200_000)]), None),
        ("50000 images named alike", lambda d: d.update(images=[
            {"id": i + 1, "file_name": f"img{i}.png", "width": 64, "height": 48} for i in range(50_000)]), None),
        ("width 10**9 for every image", lambda d: [im.update(width=10**9, height=10**9) for im in d["images"]], None),
    ]
    return [(f"{rel}: {name}", _json_edit(rel, fn, raw)) for name, fn, raw in cases]


def _labelme_mutations(rel: str) -> list[tuple[str, Mutation]]:
    pts = ["shapes", 0, "points"]
    cases: list[tuple[str, Callable[[Any], Any], dict[str, str] | None]] = []
    cases += _number_cases("imageWidth", ["imageWidth"])[:10]
    cases += _number_cases("points[1][0]", ["shapes", 0, "points", 1, 0])[:10]
    cases += [
        ("imagePath ../private/secret.png", _set(["imagePath"], "../private/secret.png"), None),
        ("imagePath absolute private image", _set(["imagePath"], "SECRET_ABS"), None),
        ("imagePath NUL", _set(["imagePath"], "img0\x00.png"), None),
        ("imagePath 5000 chars", _set(["imagePath"], "y" * 5000 + ".png"), None),
        ("imagePath empty", _set(["imagePath"], ""), None),
        ("imagePath a number", _set(["imagePath"], 7), None),
        ("imagePath missing", _del(["imagePath"]), None),
        ("imagePath backslash traversal", _set(["imagePath"], "..\\private\\secret.png"), None),
        ("shapes a dict", _set(["shapes"], {"a": 1}), None),
        ("shape a string", _set(["shapes", 0], "rect"), None),
        ("points 3 for a rectangle", _set(pts, [[1, 1], [2, 2], [3, 3]]), None),
        ("points 1", _set(pts, [[1, 1]]), None),
        ("points strings", _set(pts, [["1", "1"], ["5", "5"]]), None),
        ("points zero-size", _set(pts, [[5, 5], [5, 5]]), None),
        ("points nested deep", _set(pts, "@N"), {"@N": _deep(100000)}),
        ("polygon of 2 points", lambda d: d["shapes"][0].update(shape_type="polygon", points=[[1, 1], [5, 5]]),
         None),
        ("polygon of 100000 points", lambda d: d["shapes"][0].update(
            shape_type="polygon", points=[[i % 60, (i * 7) % 40] for i in range(100_000)]), None),
        ("circle", lambda d: d["shapes"][0].update(shape_type="circle"), None),
        ("shape_type a list", lambda d: d["shapes"][0].update(shape_type=["rectangle"]), None),
        ("label empty", lambda d: d["shapes"][0].update(label=""), None),
        ("label tab", lambda d: d["shapes"][0].update(label="a\tb"), None),
        ("label 100k chars", lambda d: d["shapes"][0].update(label="l" * 100_000), None),
        ("label a dict", lambda d: d["shapes"][0].update(label={"x": 1}), None),
        ("imageData 5 MB", _set(["imageData"], "A" * 5_000_000), None),
        ("root a list", lambda d: [d], None),
        ("100000 shapes", lambda d: d.update(shapes=[
            {"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"} for _ in range(100_000)]),
         None),
    ]
    return [(f"{rel}: {name}", _json_edit(rel, fn, raw)) for name, fn, raw in cases]


# -- XML (VOC) -----------------------------------------------------------------------------
def _xml_edit(rel: str, fn: Callable[[str, CaseDir], str], encoding: str = "utf-8") -> Mutation:
    def apply(c: CaseDir) -> None:
        p = c.ds / rel
        p.write_bytes(fn(p.read_text(encoding="utf-8"), c).encode(encoding))
    return apply


def _tag(tag: str, value: str, count: int = 1) -> Callable[[str, CaseDir], str]:
    def fn(text: str, c: CaseDir) -> str:
        value_ = value.replace("SECRET_ABS", str(c.secret_png))
        return re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value_}</{tag}>", text, count=count)
    return fn


LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";" if i > 1 else "&lol;") * 10}">'
                    for i in range(1, 10))
          + ']>\n')


def _voc_mutations(rel: str) -> list[tuple[str, Mutation]]:
    def sub(old: str, new: str) -> Callable[[str, CaseDir], str]:
        return lambda t, c: t.replace(old, new, 1)

    def prolog(decl: str) -> Callable[[str, CaseDir], str]:
        return lambda t, c: decl + t

    cases: list[tuple[str, Callable[[str, CaseDir], str], str]] = []
    for tag in ("xmin", "xmax", "width"):
        for name, v in (("nan", "nan"), ("inf", "inf"), ("1e400", "1e400"), ("5000 digits", "9" * 5000),
                        ("-5", "-5"), ("abc", "abc"), ("empty", ""), ("0x10", "0x10"), ("1_000", "1_000"),
                        ("0", "0"), ("64.5", "64.5"), ("1e10", "1e10")):
            cases.append((f"<{tag}>={name}", _tag(tag, v), "utf-8"))
    cases += [
        ("<filename> ../private/secret.png", _tag("filename", "../private/secret.png"), "utf-8"),
        ("<filename> absolute private image", _tag("filename", "SECRET_ABS"), "utf-8"),
        ("<path> absolute private image", _tag("path", "SECRET_ABS"), "utf-8"),
        ("<path> ../../private/secret.png", _tag("path", "../../private/secret.png"), "utf-8"),
        ("<path> /etc/passwd", _tag("path", "/etc/passwd"), "utf-8"),
        ("<filename> 5000 chars", _tag("filename", "z" * 5000 + ".png"), "utf-8"),
        ("<filename> empty", _tag("filename", ""), "utf-8"),
        ("<filename> NUL reference", _tag("filename", "img&#0;.png"), "utf-8"),
        ("<name> empty", _tag("name", ""), "utf-8"),
        ("<name> tab", _tag("name", "a&#9;b"), "utf-8"),
        ("<name> 100k chars", _tag("name", "n" * 100_000), "utf-8"),
        ("<name> RTL", _tag("name", "\u202ecat"), "utf-8"),
        ("no <bndbox>", lambda t, c: re.sub(r"<bndbox>.*?</bndbox>", "", t, count=1, flags=re.S), "utf-8"),
        ("no <name>", lambda t, c: re.sub(r"<name>[^<]*</name>", "", t, count=1), "utf-8"),
        ("no <filename>", lambda t, c: re.sub(r"<filename>[^<]*</filename>", "", t, count=1), "utf-8"),
        ("root <html>", lambda t, c: t.replace("<annotation>", "<html>").replace("</annotation>", "</html>"),
         "utf-8"),
        ("billion laughs", lambda t, c: LAUGHS + t.replace("<name>cat</name>", "<name>&lol9;</name>"), "utf-8"),
        ("billion laughs in UTF-16", lambda t, c: LAUGHS.replace('"1.0"', '"1.0" encoding="utf-16"')
         + t.replace("<name>cat</name>", "<name>&lol9;</name>"), "utf-16"),
        ("internal entity in UTF-16 (cat from &c;)", lambda t, c: '<?xml version="1.0" encoding="utf-16"?>'
         '<!DOCTYPE annotation [<!ENTITY c "dog">]>' + t.replace("<name>cat</name>", "<name>&c;</name>"),
         "utf-16"),
        ("external entity (file:// private)", lambda t, c: f'<!DOCTYPE annotation [<!ENTITY x SYSTEM '
         f'"file://{c.secret_txt}">]>' + t.replace("<name>cat</name>", "<name>&x;</name>"), "utf-8"),
        ("external DTD", prolog('<!DOCTYPE annotation SYSTEM "http://127.0.0.1:9/x.dtd">'), "utf-8"),
        ("unknown encoding", prolog('<?xml version="1.0" encoding="x-nope"?>'), "utf-8"),
        ("encoding cp500 declared", prolog('<?xml version="1.0" encoding="cp500"?>'), "utf-8"),
        ("encoding utf-32", lambda t, c: '<?xml version="1.0" encoding="utf-32"?>' + t, "utf-32"),
        ("nested 100000 deep", lambda t, c: t.replace("<segmented>0</segmented>",
                                                       "<a>" * 100_000 + "</a>" * 100_000), "utf-8"),
        ("100000 objects", lambda t, c: t.replace("</annotation>", (
            "<object><name>cat</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
            "</object>") * 100_000 + "</annotation>"), "utf-8"),
        ("processing instruction and CDATA", sub("<name>cat</name>", "<?pi x?><name><![CDATA[cat]]></name>"),
         "utf-8"),
        ("xinclude", sub("<segmented>", '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                        'href="/etc/passwd" parse="text"/><segmented>'), "utf-8"),
    ]
    return [(f"{rel}: {name}", _xml_edit(rel, fn, enc)) for name, fn, enc in cases]


# -- YOLO ----------------------------------------------------------------------------------
def _text_edit(rel: str, fn: Callable[[str, CaseDir], str]) -> Mutation:
    def apply(c: CaseDir) -> None:
        p = c.ds / rel
        text = p.read_text(encoding="utf-8") if p.exists() else ""
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(fn(text, c), encoding="utf-8")
    return apply


def _yolo_label_mutations(rel: str) -> list[tuple[str, Mutation]]:
    lines = {
        "6 fields": "0 0.5 0.5 0.2 0.2 0.1", "4 fields": "0 0.5 0.5 0.2", "class 5": "5 0.5 0.5 0.2 0.2",
        "class -1": "-1 0.5 0.5 0.2 0.2", "class 1.0": "1.0 0.5 0.5 0.2 0.2", "class 5000 digits":
        "9" * 5000 + " 0.5 0.5 0.2 0.2", "class Arabic-Indic digit": "\u0660 0.5 0.5 0.2 0.2",
        "cx nan": "0 nan 0.5 0.2 0.2", "cx inf": "0 inf 0.5 0.2 0.2", "cx 1e400": "0 1e400 0.5 0.2 0.2",
        "cx 5000 digits": "0 0." + "9" * 5000 + " 0.5 0.2 0.2", "cx -0.5": "0 -0.5 0.5 0.2 0.2",
        "w 0": "0 0.5 0.5 0 0.2", "w -0.1": "0 0.5 0.5 -0.1 0.2", "w 1e-300": "0 0.5 0.5 1e-300 0.2",
        "hex": "0 0x1p-1 0.5 0.2 0.2", "underscores": "0 0.5_0 0.5 0.2 0.2", "tab separated": "0\t0.5\t0.5\t0.2\t0.2",
        "NUL": "0 0.5\x000.5 0.2 0.2", "polygon (segment)": "0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9",
    }
    cases = [(f"{rel}: line {name}", _text_edit(rel, lambda t, c, ln=ln: t + ln + "\n")) for name, ln in lines.items()]
    cases.append((f"{rel}: 90000 lines", _text_edit(rel, lambda t, c: "0 0.5 0.5 0.2 0.2\n" * 90_000)))
    cases.append((f"{rel}: 5 MB", _text_edit(rel, lambda t, c: "0 0.5 0.5 0.2 0.2\n" * 300_000)))
    cases.append((f"{rel}: one 3 MB line", _text_edit(rel, lambda t, c: "0 " * 1_500_000)))
    return cases


def _yaml_mutations(rel: str) -> list[tuple[str, Mutation]]:
    def repl(key: str, value: str) -> Callable[[str, CaseDir], str]:
        def fn(text: str, c: CaseDir) -> str:
            value_ = value.replace("PRIVATE_ABS", str(c.private)).replace("TOKEN_ABS", str(c.secret_txt))
            return re.sub(rf"^{key}:.*$", lambda m: f"{key}: {value_}", text, count=1, flags=re.M)
        return fn

    cases = [
        ("nc 10**9, no names", lambda t, c: re.sub(r"^names:.*$", "", repl("nc", str(10**9))(t, c), flags=re.M)),
        ("nc 10**7, no names", lambda t, c: re.sub(r"^names:.*$", "", repl("nc", str(10**7))(t, c), flags=re.M)),
        ("nc 5000 digits", repl("nc", "9" * 5000)),
        ("nc -1", repl("nc", "-1")),
        ("nc text", repl("nc", "two")),
        ("names index 10**12", repl("names", "{0: cat, 1000000000000: dog}")),
        ("names index -5", repl("names", "{-5: cat, 1: dog}")),
        ("names index 5000 digits", repl("names", "{0: cat, " + "9" * 5000 + ": dog}")),
        ("names empty", repl("names", "[]")),
        ("names duplicate", repl("names", "[cat, cat]")),
        ("names unterminated", repl("names", "[cat, dog")),
        ("names nested 100000 deep", repl("names", _deep(100000))),
        ("names with a newline escape", repl("names", '["c\\na", dog]')),
        ("names 10**6 entries", repl("names", "[" + ", ".join(f"c{i}" for i in range(10**6)) + "]")),
        ("path /", repl("path", "/")),
        ("path to the private folder", repl("path", "PRIVATE_ABS")),
        ("path ../private", repl("path", "../private")),
        ("train /", repl("train", "/")),
        ("train the private folder", repl("train", "PRIVATE_ABS")),
        ("train ../private", repl("train", "../private")),
        ("train a private .txt list", repl("train", "TOKEN_ABS")),
        ("train /dev/zero", repl("train", "/dev/zero")),
        ("train NUL", repl("train", "ima\x00ges")),
        ("train 5000 chars", repl("train", "t" * 5000)),
        ("val missing folder", repl("val", "nowhere")),
        ("yaml anchors", lambda t, c: t + "a: &a [x, x, x]\nb: &b [*a, *a, *a]\n"),
        ("block scalar", lambda t, c: t + "download: |\n  rm -rf /\n  echo\n"),
        ("tabs indentation", lambda t, c: t.replace("names:", "names:\n\t- cat\n\t- dog\nx:")),
        ("key without colon", lambda t, c: t + "justakey\n"),
        ("10 MB line", lambda t, c: t + "x: " + "y" * 10_000_000 + "\n"),
    ]
    return [(f"{rel}: {name}", _text_edit(rel, fn)) for name, fn in cases]


def _darknet_mutations() -> list[tuple[str, Mutation]]:
    def data(fn: Callable[[str, CaseDir], str]) -> Mutation:
        return _text_edit("obj.data", fn)

    return [
        ("obj.data: names = absolute private text", data(
            lambda t, c: re.sub(r"^names = .*$", f"names = {c.secret_txt}", t, flags=re.M))),
        ("obj.data: names = ../private/secret.txt", data(
            lambda t, c: re.sub(r"^names = .*$", "names = ../private/secret.txt", t, flags=re.M))),
        ("obj.data: train = absolute private list", data(
            lambda t, c: re.sub(r"^train = .*$", f"train = {c.secret_txt}", t, flags=re.M))),
        ("obj.data: names = /dev/zero", data(lambda t, c: re.sub(r"^names = .*$", "names = /dev/zero", t,
                                                                  flags=re.M))),
        ("obj.data: classes 10**9", data(lambda t, c: t.replace("classes = 2", f"classes = {10**9}"))),
        ("obj.data: classes 5000 digits", data(lambda t, c: t.replace("classes = 2", "classes = " + "9" * 5000))),
        ("obj.data: no = sign", data(lambda t, c: t + "garbage line\n")),
        ("train.txt: absolute private image", _text_edit("train.txt", lambda t, c: f"{c.secret_png}\n" + t)),
        ("train.txt: ../ to a private image", _text_edit("train.txt",
                                                         lambda t, c: "data/../../private/secret.png\n" + t)),
        ("train.txt: NUL", _text_edit("train.txt", lambda t, c: "data/obj_train_data/i\x00mg0.png\n" + t)),
        ("train.txt: 5000-char line", _text_edit("train.txt", lambda t, c: "d" * 5000 + ".png\n" + t)),
        ("train.txt: /dev/zero", _text_edit("train.txt", lambda t, c: "/dev/zero\n" + t)),
        ("obj.names: 10**5 names", _text_edit("obj.names", lambda t, c: "".join(f"c{i}\n" for i in range(10**5)))),
        ("obj.names: control characters", _text_edit("obj.names", lambda t, c: "c\x07at\ndog\n")),
    ]


def _long_classes_txt(c: CaseDir) -> None:
    (c.ds / "data.yaml").unlink()
    (c.ds / "classes.txt").write_text("".join(f"c{i}\n" for i in range(10**5)), encoding="utf-8")


def mutations(bases: dict[str, Path]) -> list[tuple[str, str, Mutation]]:
    """``(base, case name, mutation)`` for every base dataset."""
    out: list[tuple[str, str, Mutation]] = []

    def add(base: str, items: list[tuple[str, Mutation]]) -> None:
        out.extend((base, name, m) for name, m in items)

    add("coco", _bytes_mutations("annotations/instances_default.json"))
    add("coco", _coco_mutations("annotations/instances_default.json", "images/default"))
    add("coco_flat", _bytes_mutations("annotations.json")[:6])
    add("coco_flat", _coco_mutations("annotations.json", "images")[::4])
    add("labelme", _bytes_mutations("img0.json"))
    add("labelme", _labelme_mutations("img0.json"))
    add("voc", _bytes_mutations("Annotations/img0.xml"))
    add("voc", _voc_mutations("Annotations/img0.xml"))
    add("voc", _bytes_mutations("labels.txt")[:6])
    add("voc", [("labels.txt: control character", _text_edit("labels.txt", lambda t, c: "c\x1bat\ndog\n")),
                ("labels.txt: duplicate", _text_edit("labels.txt", lambda t, c: "cat\ncat\n")),
                ("ImageSets: traversal line", _text_edit("ImageSets/Main/train.txt",
                                                         lambda t, c: "../../private/secret\nimg0\n"))])
    add("yolo", _bytes_mutations("data.yaml"))
    add("yolo", _yaml_mutations("data.yaml"))
    add("yolo", _bytes_mutations("labels/img0.txt")[:8])
    add("yolo", _yolo_label_mutations("labels/img0.txt"))
    add("yolo", [("classes.txt only, 10**5 names", _long_classes_txt)])
    add("darknet", _bytes_mutations("obj.data")[:6])
    add("darknet", _darknet_mutations())
    return out


def _fix_yolo_path(c: CaseDir) -> None:
    """The base's ``data.yaml`` names its own folder; the copy's must name the copy."""
    y = c.ds / "data.yaml"
    if y.is_file():
        text = y.read_text(encoding="utf-8")
        y.write_text(re.sub(r"^path: .*$", f"path: {json.dumps(str(c.ds))}", text, count=1, flags=re.M),
                     encoding="utf-8")


def run_case(probe: str, name: str, c: CaseDir, src_fmt: str, dst_fmt: str, extra: list[str] | None = None,
             check_import: bool = True) -> list[Case]:
    """``convert`` and ``import`` on the dataset at ``c.ds``: the verdicts."""
    results = []
    argv = ["convert", str(c.ds), str(c.out), "--to", dst_fmt, *(extra or [])]
    o = run_cli(argv, timeout=CASE_TIME_S * 3)
    problems = cli_problems(o, time_limit=CASE_TIME_S)
    if o.rc == 0:
        problems += [f"outside: {p}" for p in files_reaching_outside(c.out, [c.ds], c.secrets())]
        problems += [f"secret text in {p}" for p in token_in_tree(c.out, c.token)]
    results.append(Case(probe, f"{name} | convert", problems, first_line(o)))
    if check_import:
        o = run_cli(["import", str(c.ds), str(c.ds)], timeout=CASE_TIME_S * 3)
        problems = cli_problems(o, time_limit=CASE_TIME_S)
        problems += project_records_outside(c.ds, c.token)
        results.append(Case(probe, f"{name} | import", problems, first_line(o)))
    return results


def probe_files(work: Path, bases: dict[str, Path], limit: int | None = None, log: Callable[[str], None] = print
                ) -> list[Case]:
    """Probe (b); ``limit``: only every n-th mutation so that about ``limit`` run."""
    items = mutations(bases)
    if limit is not None and limit < len(items):
        step = len(items) / limit
        items = [items[int(i * step)] for i in range(limit)]
    cases: list[Case] = []
    for i, (base, name, mutate) in enumerate(items):
        src_fmt, dst_fmt = BASES[base]
        c = case_dir(work / "files" / f"case{i % 4}", bases[base])
        _fix_yolo_path(c)
        mutate(c)
        got = run_case("mutated files", f"{base}: {name}", c, src_fmt, dst_fmt)
        cases += got
        for g in got:
            if not g.ok:
                log(f"  FAIL {g.name}: {'; '.join(g.problems)} ({g.detail})")
    return cases
