"""Label maps: ordered class names and their ids.

Inside the project a class is its *name*. Models number classes from 1
(0 is background, torchvision's convention); COCO category ids also start
at 1. ``LabelMap`` keeps the order so both agree: ``id_of(names[i]) == i + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

BACKGROUND = "__background__"


@dataclass
class LabelMap:
    """Ordered, unique, non-empty class names (background excluded)."""

    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        cleaned: list[str] = []
        for name in self.names:
            name = str(name).strip()
            if not name:
                raise ValueError("class names must be non-empty")
            if name == BACKGROUND:
                continue
            if name in cleaned:
                raise ValueError(f"duplicate class name {name!r}")
            cleaned.append(name)
        self.names = cleaned

    @classmethod
    def from_model_classes(cls, classes: Iterable[str]) -> "LabelMap":
        """From a model's class list whose entry 0 is the background."""
        return cls([c for c in classes if c != BACKGROUND])

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def id_of(self, name: str) -> int:
        """1-based id (model label / COCO category id) of a class name."""
        try:
            return self.names.index(name) + 1
        except ValueError:
            raise KeyError(f"unknown class {name!r}; known: {', '.join(self.names)}") from None

    def name_of(self, class_id: int) -> str:
        """Class name of a 1-based id."""
        if not 1 <= class_id <= len(self.names):
            raise KeyError(f"class id {class_id} out of range 1..{len(self.names)}")
        return self.names[class_id - 1]

    def add(self, name: str) -> int:
        """Add ``name`` if new; returns its id."""
        name = name.strip()
        if name not in self.names:
            if not name:
                raise ValueError("class names must be non-empty")
            self.names.append(name)
        return self.id_of(name)

    def model_classes(self) -> list[str]:
        """Class list for a model: background first."""
        return [BACKGROUND, *self.names]
