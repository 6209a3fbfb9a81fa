"""Class management through the session: a renamed model class is accepted under its new
name, deleting a class takes its boxes (one undo step), reordering fixes the label list,
classes files in and out."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.app.session import Event, Session
from detector_app.domain.boxes import Box
from tests.helpers.files import write_images
from tests.helpers.traces import make_fake_trace


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Session(score_thresh=0.5, detect_on_open=False)
    s.open_paths([write_images(tmp_path / "p", 2)])
    s.on_trace(s.key, make_fake_trace())  # the model's classes: cat, dog
    yield s
    s.close()


def test_renaming_a_model_class_names_its_detections_and_accepting_uses_the_new_name(session: Session) -> None:
    traces: list[int] = []
    session.subscribe(Event.TRACE, lambda: traces.append(1))
    assert session.labels.names == ["cat", "dog"]
    assert session.classes.rename("dog", "hound")
    assert session.labels.names == ["cat", "hound"] and session.store.aliases == {"dog": "hound"}
    assert session.trace.class_names == ["__background__", "cat", "hound"] and traces  # the canvas redraws
    shown = [session.trace.class_names[int(c)] for c in session.result.labels]
    d = shown.index("hound")
    ident = session.accept_detection(d)
    assert next(a.label for a in session.record.annotations if a.id == ident) == "hound"
    rows = {r.name: r for r in session.classes.rows()}
    assert rows["hound"].model_class and rows["hound"].model_name == "dog" and rows["hound"].boxes == 1
    session.undo()  # the accept
    session.undo()  # the rename
    assert session.labels.names == ["cat", "dog"] and session.trace.class_names[2] == "dog"
    assert session.store.aliases == {}


def test_delete_merge_and_reorder_are_one_undo_step_each(session: Session) -> None:
    session.choose_label("cat")
    session.add_box(Box(10, 10, 50, 50))
    session.select_annotation(None)  # else choosing a label relabels the new box
    session.choose_label("fox")
    fox = session.add_box(Box(60, 10, 90, 50))
    assert session.classes.rows()[-1].name == "fox" and not session.classes.rows()[-1].model_class
    assert session.classes.rename("fox", "cat")  # a merge
    assert [a.label for a in session.record.annotations] == ["cat", "cat"] and "fox" not in session.labels
    session.undo()
    assert next(a for a in session.record.annotations if a.id == fox).label == "fox"
    assert session.classes.delete("fox")
    assert [a.label for a in session.record.annotations] == ["cat"]
    session.undo()
    assert [a.label for a in session.record.annotations] == ["cat", "fox"]
    assert session.classes.move("fox", -2)
    assert session.store.label_map.names[0] == "fox"


def test_a_refused_edit_is_an_error_not_an_exception(session: Session) -> None:
    errors: list[str] = []
    session.subscribe(Event.ERROR, errors.append)
    assert not session.classes.rename("cat", "")
    assert not session.classes.delete("owl")
    assert len(errors) == 2 and "no class 'owl'" in errors[1]
    assert not session.can_undo


def test_classes_files_round_trip(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("dog\nbird\ncat\n", encoding="utf-8")
    assert session.classes.load_file(path)
    assert session.store.label_map.names[:3] == ["dog", "bird", "cat"]
    out = tmp_path / "out" / "names.txt"
    out.parent.mkdir()
    assert session.classes.save_file(out)
    assert out.read_text(encoding="utf-8").splitlines() == list(session.labels.names)
