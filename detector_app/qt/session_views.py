"""The views follow the session: each session event redraws the widgets that show
what changed (canvas, file list, stepper, stats, legend, box list, misses, label list,
video bar, undo / redo actions), with signals blocked where a widget would echo it back.

User input does not come through here: the window wires it to the session.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction

from detector_app.app.anchor_choice import AnchorChoices, first_anchor_cell
from detector_app.app.events import Change
from detector_app.app.panel_data import box_suggestions, image_misses, review_order
from detector_app.app.scan import display_key
from detector_app.app.session import Event, Session
from detector_app.qt.actions import set_checked
from detector_app.qt.canvas import ImageCanvas
from detector_app.qt.file_list import STATE_COLORS
from detector_app.qt.panels import Panels


class SessionViews:
    """Subscribes to ``session``'s events and updates ``canvas``, ``panels`` and the actions;
    ``status`` shows a line in the status bar, ``set_title`` titles the window."""

    def __init__(self, session: Session, canvas: ImageCanvas, panels: Panels, actions: dict[str, QAction],
                 status: Callable[[str], None], set_title: Callable[[str], None]) -> None:
        self.session, self.canvas, self.panels = session, canvas, panels
        self._actions = actions
        self._status = status
        self._set_title = set_title
        # the overlays as last shown: a change of either is what :meth:`_on_overlays` reacts to
        self._proposals_shown = session.overlays["proposals"]
        self._anchors_shown = session.overlays["anchors"]
        handlers: tuple[tuple[Change, Callable[[], None]], ...] = (
            (Event.ITEMS, self._on_items), (Event.CURRENT, self._on_current), (Event.TRACE, self._on_trace),
            (Event.RESULT, self._on_result), (Event.ANNOTATIONS, self._on_annotations),
            (Event.SELECTION, self._on_selection), (Event.LABELS, self._on_labels),
            (Event.OVERLAYS, self._on_overlays), (Event.ANCHOR_LABELS, self._on_anchor_labels),
            (Event.HISTORY, self.on_history),
        )
        for event, handler in handlers:
            session.subscribe(event, handler)
        session.subscribe(Event.ITEM_STATE, self._on_item_state)

    def _on_items(self) -> None:
        ss = self.session
        self.panels.file_list.set_items([ss.item_name(i) for i in range(len(ss.items))],
                                        [ss.item_state(i) for i in range(len(ss.items))])
        self.apply_review_order()
        if ss.store is not None:
            self._set_title(f"Faster R-CNN Studio \u2014 {ss.store.root}")

    def _on_item_state(self, index: int) -> None:
        self.panels.file_list.set_state(index, self.session.item_state(index))
        self.panels.file_list.set_problem(index, self.session.unreadable.get(index))
        if index == self.session.index:
            self._refresh_misses()  # verified or not decides whether unmatched detections count as false
        if index == self.session.index and self.session.is_video():
            self._mark_frames()

    def _mark_frames(self) -> None:
        """Ticks on the video slider for the frames with boxes or verified, in the file list's colours."""
        self.panels.video.set_marks({f: STATE_COLORS[state] for f, state in self.session.frame_states().items()})

    def _on_current(self) -> None:
        ss = self.session
        if ss.image is not None:
            self.canvas.set_image(ss.image)
        self.panels.file_list.set_current(ss.index)
        video = ss.video if ss.is_video() else None
        self.panels.show_video(video, ss.frame)
        if video is not None:
            self._mark_frames()
        self.panels.set_item_text(display_key(ss.record.key) if ss.record is not None else "")

    def _on_trace(self) -> None:
        ss, p = self.session, self.panels
        self.canvas.set_trace(ss.trace)
        names = ss.trace.class_names if ss.trace is not None else []
        self.canvas.set_detections(ss.result, names, ss.accepted_detections())
        p.stepper.set_trace(ss.trace, ss.result)
        p.stepper.set_result(ss.result, ss.score_thresh)
        p.stats.set_trace(ss.trace, ss.result)
        p.update_legend(ss)
        self._refresh_misses()
        self._refresh_boxes()
        choices = None if ss.trace is None else AnchorChoices.of(ss.trace)
        if choices is not None:
            p.set_anchor_choices(choices)
            p.apply_anchor_filter(self.canvas)
        if ss.trace is not None and p.stepper.current() is not None and ss.overlays["proposals"]:
            self.canvas.highlight_proposal(p.stepper.current())
        else:
            self.canvas.highlight_proposal(None)

    def _on_result(self) -> None:
        ss, p = self.session, self.panels
        names = ss.trace.class_names if ss.trace is not None else []
        self.canvas.set_detections(ss.result, names, ss.accepted_detections())
        p.stepper.set_result(ss.result, ss.score_thresh)
        p.stats.set_result(ss.result)
        p.set_thresholds(ss.score_thresh, ss.nms_thresh, ss.class_agnostic)
        self._refresh_misses()
        self._refresh_boxes()

    def _on_annotations(self) -> None:
        ss = self.session
        anns = ss.record.annotations if ss.record is not None else []
        self.canvas.set_annotations(ss.box_flags.visible(anns), list(ss.labels.names))
        self.canvas.set_accepted_detections(ss.accepted_detections())
        self.canvas.select_annotation(ss.selected_annotation)
        self.panels.update_legend(ss)
        self._refresh_misses()
        self._refresh_boxes()

    def on_history(self) -> None:
        ss, a = self.session, self._actions
        a["undo"].setEnabled(ss.can_undo)
        a["redo"].setEnabled(ss.can_redo)
        a["undo"].setText(f"&Undo {ss.undo_text}".rstrip())
        a["redo"].setText(f"&Redo {ss.redo_text}".rstrip())

    def _on_selection(self) -> None:
        ss = self.session
        self.canvas.select_annotation(ss.selected_annotation)
        self.canvas.select_detection(ss.selected_detection)
        self.select_in_box_list()

    def select_in_box_list(self) -> None:
        ss = self.session
        if ss.selected_detection is not None:
            self.panels.boxes.select_detection(ss.selected_detection)
        else:
            self.panels.boxes.select_annotation(ss.selected_annotation)

    def _refresh_boxes(self) -> None:
        """The box list: the image's annotations, and the detections shown that are not yet ones."""
        ss = self.session
        anns = list(ss.record.annotations) if ss.record is not None else []
        self.panels.boxes.set_boxes(anns, list(ss.labels.names), box_suggestions(ss), ss.box_flags.hidden,
                                    ss.box_flags.locked)
        self.select_in_box_list()  # the rows were rebuilt; the canvas keeps its own selection

    def _refresh_misses(self) -> None:
        m = image_misses(self.session)
        self.panels.misses.set_findings(m.findings, m.annotated, m.detected, m.verified)

    def _on_labels(self) -> None:
        ss = self.session
        self.panels.label_list.set_labels(list(ss.labels.names))
        self.panels.label_list.set_current(ss.current_label)

    def _on_overlays(self) -> None:
        self.sync_overlays()
        anchors = self.session.overlays["anchors"]
        if anchors and not self._anchors_shown:
            self._show_first_anchor_cell()
        self._anchors_shown = anchors
        on = self.session.overlays["proposals"]
        if on != self._proposals_shown:  # the stepper's proposal is highlighted with the proposals overlay
            self._proposals_shown = on
            current = self.panels.stepper.current()
            self.canvas.highlight_proposal(current if on and self.session.trace is not None else None)

    def _show_first_anchor_cell(self) -> None:
        """Anchors just turned on in cell mode with no cell under the mouse: pin the cell
        of the stepper's proposal's source anchor, so anchors show at once (they appeared
        only after the mouse moved, and nothing said so), and say how to pick another."""
        trace = self.session.trace
        if trace is None or self.canvas.overlays.anchor_mode != "cell" or self.canvas.overlays.active_cells():
            return
        point, where = first_anchor_cell(trace, self.panels.stepper.current())
        self.canvas.pin_cell(point)
        self._status(f"Anchors: showing {where}; hover a cell to see its anchors, click to pin or unpin it")

    def sync_overlays(self) -> None:
        ov = self.session.overlays
        for name, on in ov.items():
            set_checked(self._actions[f"overlay_{name}"], on)
            self.canvas.set_layer_visible(name, on)
        self.panels.update_legend(self.session)

    def _on_anchor_labels(self) -> None:
        self.canvas.set_anchor_labels(self.session.anchor_labels)

    def apply_review_order(self) -> None:
        """The file list's sort: folder order, or "most useful first" (scored from stored traces)."""
        fl = self.panels.file_list
        ordered = review_order(self.session, fl.sort.currentData() == "useful")
        self.session.set_order(ordered.order)
        fl.set_order(ordered.order, ordered.reasons)
        if ordered.status is not None:
            self._status(ordered.status)
