"""The label list and the label in use for new boxes: the model's classes in the model's
order (under the project's names for those it renamed), then the project's own labels."""

from __future__ import annotations

from collections.abc import Sequence

from detector_app.app.events import Event, EventBus
from detector_app.app.store import ProjectStore
from detector_app.domain.errors import UserError
from detector_app.domain.labels import LabelMap, label_names


class LabelChoice:
    """``labels``: the list shown; ``current``: the label of new boxes (None: no labels yet)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.model_classes: list[str] = []  # background first
        self.labels = LabelMap()
        self.current: str | None = None

    def set_model_classes(self, class_names: Sequence[str], store: ProjectStore | None) -> None:
        """The model's classes (background first) lead the label list."""
        self.model_classes = list(class_names)
        self.rebuild(store)

    def rebuild(self, store: ProjectStore | None) -> None:
        """The list from the model's classes and ``store``'s labels (``LABELS``)."""
        names = list(self.model_names(store))
        if store is not None:
            have = store.label_map.names
            if store.user_order:  # a person's order (Classes dialog, classes file) comes first
                names = [*have, *(n for n in names if n not in have)]
            elif names and have != names and set(have) <= set(names):
                # The project's label map fixes the exported class ids. While every label it has is a
                # class of this model, it takes the model's classes in the model's order (ids = model
                # class ids, unused classes included), whatever order the boxes came in; once a label
                # of its own is there, it is never reordered again, so ids stay stable across exports.
                store.set_labels(names)  # notifies "labels": the owner calls this again, with nothing to change
                return
            names += [n for n in have if n not in names]
        self.labels = LabelMap(names)
        if self.current not in self.labels:
            self.current = names[0] if names else None
        self._bus.notify(Event.LABELS)

    def model_names(self, store: ProjectStore | None) -> dict[str, str]:
        """The model's classes (background left out) in its order, by the project's name for
        each (``store.aliases``: the ones it renamed): project name -> model name."""
        aliases = store.aliases if store is not None else {}
        return {aliases.get(n, n): n for n in label_names(self.model_classes)}

    def add(self, name: str, store: ProjectStore) -> bool:
        """Make sure ``name`` is a label of the project (its store tells when it is new);
        ``False`` (and ``ERROR``) when it cannot be one."""
        if name in self.labels:
            return True
        try:
            store.add_label(name)
        except UserError as exc:  # e.g. a pasted name with a line break (LabelError)
            self._bus.error(str(exc))
            return False
        return True

    def use(self, name: str) -> None:
        """Use ``name`` for new boxes (``LABELS``)."""
        self.current = name
        self._bus.notify(Event.LABELS)

    def at(self, number: int) -> str | None:
        """The label a number key 1-9 picks (None: no label there)."""
        return self.labels.names[number - 1] if 1 <= number <= min(9, len(self.labels)) else None
