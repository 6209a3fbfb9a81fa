"""Ultralytics' ``data.yaml``: the small subset of YAML its dataset files use.

``path`` (the dataset root), ``train`` / ``val`` / ``test`` (a folder, a ``.txt``
list, or a list of them), ``nc`` and ``names``::

    path: /data/coco8
    train: images/train
    val: [images/val]
    nc: 2
    names: [cat, dog]        # or {0: cat, 1: dog}, or indented '- cat' / '0: cat' lines

No YAML library: errors name ``file:line``, and the keys this reader does not
use (Roboflow's ``roboflow:`` block, ``download:`` scripts) are passed by.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from detector_app.domain.errors import FormatError
from detector_app.formats.dataset import read_text_file

#: A flow value (``[...]`` / ``{...}``) continued over several lines: its key, the line it
#: starts on, and its text so far.
_Pending = tuple[str, int, str]

#: ``data.yaml`` keys whose indented lines this reader reads (as ``- item`` or ``index: name``);
#: those of any other key (Roboflow's ``roboflow:`` block, ``download:`` scripts) are passed by.
_LIST_KEYS = ("names", "train", "val", "test")


#: The most classes ``nc`` may declare (without ``names`` it names them all, ``class0``, ``class1``...):
#: the largest public detection datasets have a few thousand; more is a damaged or crafted file.
MAX_CLASSES = 100_000

def parse_data_yaml(path: Path) -> dict[str, object]:
    """``data.yaml`` as a dict of str / list[str] / dict[int, str] (``names``).

    The YAML that Ultralytics' dataset files use: ``key: value`` lines, lists as
    ``[a, b]`` (over several lines too) or ``- item`` lines, ``names`` also as
    ``index: name`` lines or ``{0: a, 1: b}``; block scalars (``download: |``) and
    nested blocks of other keys (Roboflow's ``roboflow:``) are passed by.
    Raises :class:`FormatError` with ``file:line`` for lines it cannot read.
    """
    out: dict[str, object] = {}
    current: str | None = None
    skip_indented = False  # inside a block scalar or a block this reader does not use
    pending: _Pending | None = None
    for n, raw in enumerate(read_text_file(path).splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if pending is not None:
            pending = _continue_flow(out, pending, line, path)
            continue
        if not line.strip() or line.strip() == "---":
            continue
        where = f"{path}:{n}"
        if line[0] not in " \t-":
            current, skip_indented, pending = _key_line(out, line, raw, path, n)
        elif not skip_indented:
            if current is None:
                raise FormatError(f"{where}: indented line without a key above it")
            _indented_item(out, current, line.strip(), where)
    if pending is not None:
        raise FormatError(f"{path}:{pending[1]}: unterminated list")
    return out


def names_from_yaml(path: Path, data: dict[str, object]) -> list[str]:
    """The class names of a parsed ``data.yaml`` (a list, or a dict of indices 0..C-1)."""
    names = data.get("names")
    nc = data.get("nc")
    count: int | None = None
    if nc is not None:
        try:
            count = int(str(nc))
        except ValueError:
            raise FormatError(f"{path}: 'nc' must be an integer (the number of classes), got {nc!r:.20}") from None
        if count > MAX_CLASSES:  # nc alone would name them all: nc 10**9 took gigabytes before any check
            raise FormatError(f"{path}: nc = {count} classes is more than this app reads ({MAX_CLASSES})")
    if isinstance(names, dict):
        if names and sorted(names) != list(range(len(names))):
            # the gaps below len(names) (there is one): never a range up to the largest index (10**12 in a crafted file)
            missing = [i for i in range(len(names)) if i not in names]
            shown = ", ".join(str(i) for i in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise FormatError(f"{path}: 'names' must give every class index from 0 to {len(names) - 1} once; "
                              f"{'it has ' + str(min(names)) + ' and ' if min(names) < 0 else ''}it skips {shown}"
                              if missing else f"{path}: 'names' indices must be 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if names is None and count is not None:  # Ultralytics' rule: nc alone names the classes class0, class1...
        names = [f"class{i}" for i in range(count)]
    if not isinstance(names, list):  # an empty list is fine: a dataset of negatives only
        raise FormatError(f"{path}: missing 'names' (the class list)")
    if count is not None and count != len(names):
        raise FormatError(f"{path}: nc = {count}, but 'names' lists {len(names)} classes")
    return [str(n) for n in names]



# -- lines and values ---------------------------------------------------------------
def _flow_value(where: str, key: str, text: str) -> list[str] | dict[int, str] | str:
    """A complete ``[...]`` or ``{...}`` value."""
    return _flow_list(where, text) if text.startswith("[") else _flow_map(where, key, text)


def _continue_flow(out: dict[str, object], pending: _Pending, line: str, path: Path) -> _Pending | None:
    """Add ``line`` to a flow value spread over lines; store the value in ``out`` once its
    brackets close (None), else return it, longer, still pending."""
    key, first, text = pending
    if line.strip() and line[0] not in " \t" and not line.strip().startswith(("]", "}")):
        raise FormatError(f"{path}:{first}: unterminated list")
    text += " " + line.strip()
    if not _brackets_closed(text):
        return key, first, text
    out[key] = _flow_value(f"{path}:{first}", key, text)
    return None


def _key_line(out: dict[str, object], line: str, raw: str, path: Path,
              n: int) -> tuple[str, bool, _Pending | None]:
    """Read the unindented ``key: value`` line ``n`` into ``out``. Returns the key (the
    owner of the indented lines below), whether those lines are passed by, and a flow
    value whose brackets close on a later line."""
    where = f"{path}:{n}"
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        raise FormatError(f"{where}: expected 'key: value', got {raw.strip()!r:.60}")
    current = _scalar(key)
    value = value.strip()
    skip_indented = current not in _LIST_KEYS
    if value.startswith(("[", "{")):
        if not _brackets_closed(value):
            return current, skip_indented, (current, n, value)
        if not value.endswith(("]", "}")):
            raise FormatError(f"{where}: unterminated list")
        out[current] = _flow_value(where, current, value)
    elif value[:1] in ("|", ">"):  # a block scalar: its indented lines are its text
        out[current] = value
        skip_indented = True
    else:
        out[current] = _scalar(value) if value else None
    return current, skip_indented, None


def _indented_item(out: dict[str, object], current: str, item: str, where: str) -> None:
    """Add an indented ``- item`` (a list) or ``index: name`` (a mapping) to key ``current``."""
    if item.startswith("- ") or item == "-":
        prev = out.get(current)
        if prev is None:
            prev = out[current] = []
        if not isinstance(prev, list):
            raise FormatError(f"{where}: list item under {current!r}, which is not a list")
        prev.append(_scalar(item[1:]))
        return
    k, sep, v = item.partition(":")
    prev = out.get(current)
    if prev is None:
        prev = out[current] = {}
    if not sep or not isinstance(prev, dict):
        raise FormatError(f"{where}: expected '- item' or 'index: name' under {current!r}")
    index = _class_index(where, k)
    if index in prev:
        raise FormatError(f"{where}: class index {index} given twice")
    prev[index] = _scalar(v)


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except ValueError:
            return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of ``text`` outside YAML quotes ('...' or "..." with
    backslash escapes)."""
    quote = None
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:  # the character after a backslash in "..." (e.g. \") ends nothing
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch


def _strip_comment(line: str) -> str:
    for i, ch in _unquoted(line):
        if ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _flow_list(where: str, text: str) -> list[str]:
    inner = text.strip()[1:-1]
    items = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,]+)\s*(?:,|$)""", inner)
    return [_scalar(i) for i in items if i.strip()]


def _flow_map(where: str, key: str, text: str) -> dict[int, str] | str:
    """An inline mapping ``{0: a, 1: b}``: ``names`` as ``{index: name}``; under any other
    key the text as it is (this reader uses no other mapping)."""
    if key != "names":
        return text
    out: dict[int, str] = {}
    for item in _flow_list(where, text):  # the same splitting on commas outside quotes
        k, sep, v = item.partition(":")
        if not sep:
            raise FormatError(f"{where}: expected 'index: name' items in {{...}}, got {item!r:.40}")
        out[_class_index(where, k)] = _scalar(v)
    return out


def _class_index(where: str, text: str) -> int:
    try:
        return int(_scalar(text))
    except ValueError:
        raise FormatError(f"{where}: class index {text.strip()!r:.20} is not an integer") from None


def _brackets_closed(text: str) -> bool:
    """Whether every ``[`` / ``{`` of a flow value outside quotes is closed."""
    depth = 0
    for _i, ch in _unquoted(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth <= 0


__all__ = ["names_from_yaml", "parse_data_yaml"]
