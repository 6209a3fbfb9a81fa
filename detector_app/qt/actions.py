"""The main window's actions (menu entries, toolbar buttons, shortcuts) as one
table, and the menus built from it.

Keys (shown in Help > Keyboard shortcuts):
    A / D           previous / next item (respecting the state filter)
    W               draw mode (drag a new box)
    Del             delete the selected annotation
    1-9             label the selected box (and the next ones) with class N
    Enter           accept the selected detection as an annotation (canvas focused)
    Shift+Enter     accept every detection above the score threshold (canvas focused)
    Space           mark verified / take the mark back (labelImg's key; holding it does nothing more)
    Ctrl+Shift+V    copy the boxes of the previous image / frame
    I               video: interpolate each object's box between its keyframes
    Ctrl+Z / Ctrl+Shift+Z   undo / redo
    R               detect again;  F / Ctrl+0: zoom to fit / 1:1
    P, ',' '.'      video: play/pause, previous / next frame (canvas focused)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from detector_app.app.session import OVERLAYS


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    shortcuts: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False


#: Toolbar texts shorter than the menu texts.
SHORT = {
    "open_folder": "Folder\u2026", "open_files": "Files\u2026", "import": "Import\u2026",
    "prev_item": "\u25c0 Prev", "next_item": "Next \u25b6",
    "draw": "Draw", "accept_all": "Accept all", "copy_previous": "Copy prev.", "verify_next": "Verified \u25b6",
    "undo": "\u21b6 Undo", "redo": "Redo \u21b7", "zoom_fit": "Fit", "zoom_actual": "1:1", "detect": "Detect",
}


OVERLAY_TEXT = {
    "detections": ("Detections", "Final detections under the current thresholds"),
    "annotations": ("Annotations", "Your boxes (editable)"),
    "proposals": ("Proposals", "RPN proposals, best objectness first (top N)"),
    "anchors": ("Anchors", "Anchors of the cell under the mouse (click pins a cell)"),
    "grid": ("Grid", "The feature-map cells the RPN slides over"),
    "anchor_labels": ("Anchor labels", "How training would label anchors against your boxes: "
                                       "positive / negative / ignored"),
}

SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "Open &folder\u2026", ("Ctrl+O",), "Open a folder of images and videos"),
    ActionSpec("open_files", "Open &images or video\u2026", ("Ctrl+Shift+O",), "Open image files or a video"),
    ActionSpec("import", "&Import annotations\u2026", ("Ctrl+I",),
               "Bring in the boxes of a COCO / Pascal VOC / YOLO / LabelMe dataset"),
    ActionSpec("export", "&Export dataset\u2026", ("Ctrl+E",), "Write COCO / VOC / YOLO"),
    ActionSpec("classes", "&Classes\u2026", (), "Rename, merge, delete and reorder the project's classes; "
                                               "load or save a classes file"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",)),
    ActionSpec("undo", "&Undo", ("Ctrl+Z",)),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
    ActionSpec("draw", "&Draw box", ("W",), "Drag on the image to draw a new box (W)", True),
    ActionSpec("delete", "De&lete box", ("Del", "Backspace"), "Delete the selected annotation"),
    ActionSpec("accept", "&Accept detection", ("Return", "Enter"), "The selected detection becomes an annotation"),
    ActionSpec("accept_all", "Accept &all detections", ("Shift+Return", "Shift+Enter"),
               "Every detection above the score threshold becomes an annotation"),
    ActionSpec("interpolate", "&Interpolate between keyframes", ("I",),
               "Video: fill the frames between an object's keyframes (boxes you placed) with moving boxes"),
    ActionSpec("copy_previous", "&Copy boxes from previous", ("Ctrl+Shift+V",),
               "Copy the annotations of the previous image or frame"),
    ActionSpec("verify", "Mark &verified", ("Space",),
               "Mark this item verified, or take the mark back (holding the key does nothing more)"),
    ActionSpec("verify_next", "Verified, &next", (), "Mark this item verified and go to the next"),
    ActionSpec("prev_item", "&Previous item", ("A",)),
    ActionSpec("next_item", "&Next item", ("D",)),
    ActionSpec("zoom_fit", "Zoom to &fit", ("F",)),
    ActionSpec("zoom_actual", "Zoom &1:1", ("Ctrl+0",)),
    ActionSpec("zoom_selection", "Zoom to &selected box", ("Shift+F",), "Zoom in on the selected box"),
    ActionSpec("detect", "&Detect", ("R",), "Run the detector on this image again"),
    ActionSpec("detect_on_open", "Detect on &open", (), "Run the detector whenever an item is shown", True),
    ActionSpec("open_model", "Open &checkpoint\u2026", (), "Load a model checkpoint file"),
    ActionSpec("finetune", "&Fine-tune on this project\u2026", (), "Train the model on your verified boxes"),
    ActionSpec("detect_all", "Detect &all\u2026", (), "Detect every image of the project in the background and "
               "keep the traces, so stepping through them is instant"),
    ActionSpec("funnel", "&Recall funnel\u2026", (), "How many of your boxes survive each stage of the detector, "
               "and which stage lost the others (anchors, RPN, RoI head, thresholds)"),
    ActionSpec("play", "&Play / pause", ("P",)),
    ActionSpec("prev_frame", "Previous frame", (",",)),
    ActionSpec("next_frame", "Next frame", (".",)),
    ActionSpec("shortcuts", "&Keyboard shortcuts", ("F1",)),
    *(ActionSpec(f"overlay_{n}", OVERLAY_TEXT[n][0], (), OVERLAY_TEXT[n][1], True) for n in OVERLAYS),
    *(ActionSpec(f"label_{i}", f"Label {i}", (str(i),)) for i in range(1, 10)),
)

#: Actions whose key repeats while held (moving through items, frames, the undo history);
#: every other key acts once per press: a held Space, Enter or Del must not verify,
#: accept or delete again and again.
REPEATING = ("prev_item", "next_item", "prev_frame", "next_frame", "undo", "redo")

#: Actions whose keys only work while the canvas (or the video bar) has focus:
#: ',' / '.' still step proposals in the stepper, and Enter still confirms the
#: label search, the file list and the spin boxes instead of accepting a detection.
CANVAS_ONLY = ("play", "prev_frame", "next_frame", "accept", "accept_all")

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open_folder", "open_files", "@recent", "-", "import", "export", "-", "quit")),
    ("&Edit", ("undo", "redo", "-", "draw", "delete", "-", "accept", "accept_all", "copy_previous", "interpolate",
               "-",
               "verify", "verify_next", "-", "classes")),
    ("&View", ("prev_item", "next_item", "-", *(f"overlay_{n}" for n in OVERLAYS), "-", "zoom_fit",
               "zoom_actual", "zoom_selection", "-", "play", "prev_frame", "next_frame", "-", "@docks")),
    ("&Model", ("detect", "detect_on_open", "detect_all", "-", "open_model", "-", "funnel", "finetune")),
    ("&Help", ("shortcuts",)),
)


def make_actions(window: QMainWindow) -> dict[str, QAction]:
    """Create every action of :data:`SPECS` (parented to ``window``)."""
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        act = QAction(spec.text, window)
        act.setObjectName(spec.name)
        if spec.shortcuts:
            act.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
            keys = " / ".join(spec.shortcuts)
            plain = spec.text.replace("&", "").rstrip(".\u2026")
            act.setToolTip(f"{spec.tip or plain}  ({keys})")
        elif spec.tip:
            act.setToolTip(spec.tip)
        act.setStatusTip(spec.tip)
        act.setCheckable(spec.checkable)
        act.setAutoRepeat(spec.name in REPEATING)
        if spec.name in SHORT:
            act.setIconText(SHORT[spec.name])
        actions[spec.name] = act
    return actions


def build_menus(window: QMainWindow, actions: dict[str, QAction], submenus: dict[str, QMenu] | None = None) -> None:
    """The menu bar from :data:`MENUS`; ``@name`` entries are the submenus given
    (``@docks``: panels and toolbars, ``@recent``: recently opened)."""
    bar = window.menuBar()
    for title, names in MENUS:
        menu = bar.addMenu(title)
        for name in names:
            if name == "-":
                menu.addSeparator()
            elif name.startswith("@"):
                sub = (submenus or {}).get(name[1:])
                if sub is not None:
                    menu.addMenu(sub)
            else:
                menu.addAction(actions[name])


#: Mouse gestures on the canvas (the keys come from :data:`SPECS`).
MOUSE_HELP = (
    ("Wheel", "zoom around the cursor"),
    ("Middle or right drag", "pan"),
    ("Click a box", "select it (an annotation, else a detection); drag it to move, its handles to resize"),
    ("W, then drag", "draw a new box with the current label"),
    ("Click a detection, Enter", "accept it as an annotation"),
    ("Hover a cell (Anchors on)", "show its anchors; click pins the cell"),
)


def shortcut_help() -> str:
    """Help > Keyboard shortcuts as an HTML page: every action with a key (from
    :data:`SPECS`, so it cannot drift from the real shortcuts) in a table, then
    the mouse gestures."""
    import html

    rows = []
    for spec in SPECS:
        if not spec.shortcuts or spec.name.startswith("label_"):
            continue
        keys = " / ".join(dict.fromkeys(k.replace("Return", "Enter") for k in spec.shortcuts))  # Return = Enter
        what = spec.text.replace("&", "").rstrip(".\u2026")
        note = " (canvas focused)" if spec.name in CANVAS_ONLY else ""
        rows.append((keys, what + note))
    rows.append(("1 - 9", "label the selected box (and the next ones) with class N"))

    def table(title: str, items: Sequence[tuple[str, str]]) -> str:
        cells = "".join(f"<tr><td style='padding-right:16px'><b>{html.escape(k)}</b></td>"
                        f"<td>{html.escape(v)}</td></tr>" for k, v in items)
        return f"<h3>{title}</h3><table cellspacing='2'>{cells}</table>"

    return table("Keys", rows) + table("Mouse", MOUSE_HELP)


def set_checked(action: QAction, on: bool) -> None:
    """Check or uncheck ``action`` without its ``toggled`` (the session already knows)."""
    action.blockSignals(True)
    action.setChecked(bool(on))
    action.blockSignals(False)
