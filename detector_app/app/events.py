"""The session's events: what changed, for the views to redraw (no Qt).

Subscribe with ``session.subscribe(Event.X, fn)``; ``fn``'s arguments depend on the
event and are checked by the type checker (the overloads of :meth:`EventBus.subscribe`):

    ITEMS []                  the item list changed (a project was opened)
    ITEM_STATE [index]        one item's review state changed
    CURRENT []                another item / frame is current (image and record changed)
    TRACE []                  ``trace`` and ``result`` changed (trace may be None)
    RESULT []                 ``result`` changed (thresholds moved)
    ANNOTATIONS []            the current record's annotations changed
    SELECTION []              selected annotation / detection changed
    LABELS []                 the label list or the current label changed
    OVERLAYS []               an overlay toggle changed
    ANCHOR_LABELS []          ``anchor_labels`` changed
    HISTORY []                the undo stack changed (``undo_text`` / ``redo_text``)
    DETECT [key, rgb, group]  run the detector (the window hands it to the worker)
    STATUS [message]          a line for the status bar
    ERROR [message]           a problem for the status bar and the log
    SAVE_ERROR [message]      saving failed (called from the autosave thread!)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal, TypeAlias, overload

import numpy as np


class Event(enum.Enum):
    """One kind of session event (see the module docstring for the arguments)."""

    ITEMS = "items"
    ITEM_STATE = "item_state"
    CURRENT = "current"
    TRACE = "trace"
    RESULT = "result"
    ANNOTATIONS = "annotations"
    SELECTION = "selection"
    LABELS = "labels"
    OVERLAYS = "overlays"
    ANCHOR_LABELS = "anchor_labels"
    HISTORY = "history"
    DETECT = "detect"
    STATUS = "status"
    ERROR = "error"
    SAVE_ERROR = "save_error"


#: Events without arguments: "this changed, read the session again".
Change: TypeAlias = Literal[
    Event.ITEMS, Event.CURRENT, Event.TRACE, Event.RESULT, Event.ANNOTATIONS, Event.SELECTION, Event.LABELS,
    Event.OVERLAYS, Event.ANCHOR_LABELS, Event.HISTORY,
]
#: Events carrying one line of text.
Message: TypeAlias = Literal[Event.STATUS, Event.ERROR, Event.SAVE_ERROR]
#: ``fn(key, rgb, group)``: detect ``uint8[H, W, 3]`` pixels of record ``key`` in worker group ``group``.
DetectFn: TypeAlias = Callable[[str, np.ndarray, "str | None"], None]


class EventBus:
    """Listeners by event, called in the order they subscribed, on the emitting thread."""

    def __init__(self) -> None:
        self._listeners: dict[Event, list[Callable[..., None]]] = {}

    @overload
    def subscribe(self, event: Change, fn: Callable[[], None]) -> None: ...
    @overload
    def subscribe(self, event: Literal[Event.ITEM_STATE], fn: Callable[[int], None]) -> None: ...
    @overload
    def subscribe(self, event: Message, fn: Callable[[str], None]) -> None: ...
    @overload
    def subscribe(self, event: Literal[Event.DETECT], fn: DetectFn) -> None: ...

    def subscribe(self, event: Event, fn: Callable[..., None]) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"subscribe to an Event, not {event!r}")
        self._listeners.setdefault(event, []).append(fn)

    def unsubscribe(self, event: Event, fn: Callable[..., None]) -> None:
        """Stop calling ``fn`` (a window that closes before the session does); absent: nothing."""
        listeners = self._listeners.get(event, [])
        if fn in listeners:
            listeners.remove(fn)

    def _emit(self, event: Event, *args: object) -> None:
        for fn in list(self._listeners.get(event, ())):
            fn(*args)

    def notify(self, *events: Change) -> None:
        """Emit each of ``events`` in turn."""
        for event in events:
            self._emit(event)

    def item_state(self, index: int) -> None:
        self._emit(Event.ITEM_STATE, index)

    def status(self, message: str) -> None:
        self._emit(Event.STATUS, message)

    def error(self, message: str) -> None:
        self._emit(Event.ERROR, message)

    def save_error(self, message: str) -> None:
        self._emit(Event.SAVE_ERROR, message)

    def detect(self, key: str, rgb: np.ndarray, group: str | None) -> None:
        self._emit(Event.DETECT, key, rgb, group)
