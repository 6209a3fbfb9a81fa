"""Label maps: ordered class names and their ids.

Inside the project a class is its *name*. Models number classes from 1
(0 is background, torchvision's convention); COCO category ids also start
at 1. ``LabelMap`` keeps the order so both agree: ``id_of(names[i]) == i + 1``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from detector_app.domain.errors import UserError

BACKGROUND = "__background__"
#: Entries of a model's class list that are not labels: the background, and COCO's unused ids.
NOT_LABELS = (BACKGROUND, "N/A")


def label_names(class_names: list[str]) -> list[str]:
    """A model's class list (background first) as label names (placeholders left out)."""
    return [c for c in class_names[1:] if c not in NOT_LABELS]

#: Unicode categories a class name may not hold: control characters (tab, newline,
#: NUL, DEL, C1 controls), lone surrogates, line and paragraph separators.
_FORBIDDEN_CATEGORIES = {"Cc": "a control character", "Cs": "a lone surrogate",
                         "Zl": "a line separator", "Zp": "a paragraph separator"}
_FORBIDDEN_CHARS = {"\ufeff": "a byte order mark", "\ufffe": "a non-character", "\uffff": "a non-character"}


class LabelError(UserError, ValueError):
    """A class name that cannot be used (empty, duplicate, or not one line of text)."""


def check_class_name(name: object) -> str:
    """``name`` without surrounding whitespace, checked to be one line of printable text.

    Every format stores class names as text lines or XML/YAML strings (VOC
    ``labels.txt``, YOLO ``classes.txt`` and ``data.yaml``), where a control
    character or line break would split or corrupt the name; such names are
    refused here, at the one place names enter, with :class:`LabelError`.
    """
    if not isinstance(name, str):
        raise LabelError(f"class name must be text, got {name!r}")
    cleaned = name.strip()
    if not cleaned:
        raise LabelError("class names must be non-empty")
    if cleaned.isprintable():  # the common case: no Cc/Cs/Zl/Zp/Cf/Cn character at all
        return cleaned
    for ch in cleaned:
        what = _FORBIDDEN_CHARS.get(ch) or _FORBIDDEN_CATEGORIES.get(unicodedata.category(ch))
        if what:
            raise LabelError(f"class name {cleaned!r} contains {what} (U+{ord(ch):04X}); "
                             "a class name is one line of printable text")
    return cleaned


@dataclass
class LabelMap:
    """Ordered, unique, non-empty class names (background excluded).

    Lookups go through a name -> id index, so building or querying a map of N
    names costs O(N), not O(N^2) (a 600 KB ``classes.txt`` of 100,000 names took 48 s).
    ``names`` is only ever changed through :meth:`add`."""

    names: list[str] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cleaned: list[str] = []
        ids: dict[str, int] = {}
        for name in self.names:
            name = check_class_name(str(name))
            if name == BACKGROUND:
                continue
            if name in ids:
                raise LabelError(f"duplicate class name {name!r}")
            cleaned.append(name)
            ids[name] = len(cleaned)
        self.names = cleaned
        self._ids = ids

    def _index(self) -> dict[str, int]:
        if len(self._ids) != len(self.names):  # (a list assigned to ``names`` after construction)
            self._ids = {n: i for i, n in enumerate(self.names, start=1)}
        return self._ids

    @classmethod
    def from_model_classes(cls, classes: Iterable[str]) -> LabelMap:
        """From a model's class list whose entry 0 is the background."""
        return cls([c for c in classes if c != BACKGROUND])

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index()

    def id_of(self, name: str) -> int:
        """1-based id (model label / COCO category id) of a class name."""
        class_id = self._index().get(name) if isinstance(name, str) else None
        if class_id is None:
            known = ", ".join(self.names[:20]) + (f", ... ({len(self.names)} in all)" if len(self.names) > 20 else "")
            raise KeyError(f"unknown class {name!r}; known: {known}")
        return class_id

    def name_of(self, class_id: int) -> str:
        """Class name of a 1-based id."""
        if not 1 <= class_id <= len(self.names):
            raise KeyError(f"class id {class_id} out of range 1..{len(self.names)}")
        return self.names[class_id - 1]

    def add(self, name: str) -> int:
        """Add ``name`` if new; returns its id."""
        name = check_class_name(name)
        ids = self._index()
        if name not in ids:
            self.names.append(name)
            ids[name] = len(self.names)
        return ids[name]

    def model_classes(self) -> list[str]:
        """Class list for a model: background first."""
        return [BACKGROUND, *self.names]
