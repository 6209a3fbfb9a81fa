"""The decisions the main window leaves to the app layer, without Qt: which model to load
and what to say about it, the recent models, the anchor filters, the side panels' lists,
the settings a session keeps between runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector_app.app import jobs
from detector_app.app.anchor_choice import NO_CHOICES, AnchorChoices, AnchorFilter, first_anchor_cell
from detector_app.app.model_choice import MAX_RECENT_MODELS, ModelSelection, recent_models, remember_recent
from detector_app.app.panel_data import box_suggestions, image_misses, review_order
from detector_app.app.preferences import save_session, session_from_settings
from detector_app.app.session import Session
from detector_app.app.settings import Settings
from detector_app.domain.annotations import ItemState
from detector_app.domain.boxes import Box
from tests.app.conftest import write_png
from tests.qt.conftest import make_fake_trace


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "models" / "default.pt"
    monkeypatch.setattr(jobs, "bundled_model_path", lambda: path)
    return path


# -- the model ----------------------------------------------------------------------------
def test_a_missing_bundled_model_loads_the_untrained_one_and_keeps_the_choice(bundled: Path) -> None:
    models = ModelSelection(None, "cpu")
    plan = models.plan(None)
    assert plan.spec == jobs.UNTRAINED and plan.status is None
    assert plan.error is not None and f"bundled model {bundled} is missing" in plan.error
    assert models.spec is None and models.loaded == jobs.UNTRAINED  # saved as "bundled"
    bundled.parent.mkdir(parents=True)
    bundled.write_bytes(b"")
    plan = models.plan("default", "cuda:0")
    assert plan == replace(plan, spec="default", error=None) and plan.status == "loading model default on cuda:0\u2026"
    assert models.device == "cuda:0" and models.loaded == "default"


def test_a_remembered_model_that_is_gone_falls_back_unless_given_on_the_command_line(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.json")
    settings.set("model", str(tmp_path / "deleted.pt"))
    settings.set("device", "cpu")
    models = ModelSelection.from_settings(settings)
    assert (models.spec, models.device, models.from_cli) == (str(tmp_path / "deleted.pt"), "cpu", False)
    warning = models.check_remembered()
    assert warning is not None and "deleted.pt, is gone: using the bundled model" in warning
    assert models.spec is None and models.loaded is None
    given = ModelSelection.from_settings(settings, model=str(tmp_path / "typo.pt"), device="cuda:0")
    assert given.check_remembered() is None and given.spec == str(tmp_path / "typo.pt")  # its load error says why
    assert given.device == "cuda:0"
    kept = ModelSelection.from_settings(Settings(tmp_path / "none.json"))
    assert (kept.spec, kept.device, kept.check_remembered()) == (None, "auto", None)
    given.save(settings)
    assert (settings.get("model"), settings.get("device")) == (str(tmp_path / "typo.pt"), "cuda:0")


def test_recent_models_newest_first_without_the_bundled_one(tmp_path: Path, bundled: Path) -> None:
    settings = Settings(tmp_path / "s.json")
    for i in range(MAX_RECENT_MODELS + 2):
        remember_recent(settings, jobs.ModelInfo(f"m{i}", ["__background__"], path=f"/m/{i}.pt"))
    remember_recent(settings, jobs.ModelInfo("m3", ["__background__"], path="/m/3.pt"))
    remember_recent(settings, jobs.ModelInfo("bundled", ["__background__"], path=str(bundled)))
    remember_recent(settings, jobs.ModelInfo("builder", ["__background__"]))  # no file: nothing to list
    assert recent_models(settings) == ["/m/3.pt", "/m/9.pt", "/m/8.pt", "/m/7.pt", "/m/6.pt", "/m/5.pt",
                                       "/m/4.pt", "/m/2.pt"]
    settings.set("recent_models", ["/a.pt", 3, None])  # a hand-edited file
    assert recent_models(settings) == ["/a.pt"]


# -- anchors -----------------------------------------------------------------------------
def test_anchor_choices_pick_levels_of_an_fpn_model_and_scales_of_a_single_level() -> None:
    trace = make_fake_trace()
    single = AnchorChoices.of(trace)
    assert single is not None and not single.per_level
    assert single.sizes == tuple(float(s) for s in trace.levels[0].sizes)
    assert single.filter(1, None) == AnchorFilter(None, {1}, None)
    assert single.filter(None, 2) == AnchorFilter(None, None, {2})
    level = trace.levels[0]
    trace.levels = [replace(level, name=str(i), sizes=(32.0 * 2 ** i,)) for i in range(3)]
    fpn = AnchorChoices.of(trace)
    assert fpn == AnchorChoices((32.0, 64.0, 128.0), tuple(float(r) for r in level.aspect_ratios), True)
    assert fpn.filter(2, 0) == AnchorFilter({2}, None, {0})
    trace.levels = []
    assert AnchorChoices.of(trace) is None
    assert NO_CHOICES.filter(None, None) == AnchorFilter(None, None, None)


def test_first_anchor_cell_is_the_proposals_source_else_the_middle() -> None:
    trace = make_fake_trace()
    point, where = first_anchor_cell(trace, 2)
    assert point == trace.cell_point(int(trace.proposal_anchor_index[2])) and "proposal 2's source anchor" in where
    h, w = trace.image_size
    assert first_anchor_cell(trace, None) == ((w / 2, h / 2), "the middle cell")
    assert first_anchor_cell(trace, trace.num_proposals)[1] == "the middle cell"


# -- the side panels ---------------------------------------------------------------------
@pytest.fixture
def session(tmp_path: Path):
    root = tmp_path / "proj"
    for name in ("a.png", "b.png"):
        write_png(root / name, 300, 200)
    s = Session(detect_on_open=False)
    s.open_paths([root])
    yield s
    s.close()


def test_box_suggestions_are_the_detections_not_accepted(session: Session) -> None:
    assert box_suggestions(session) == []  # no trace yet
    session.on_trace("a.png", make_fake_trace())
    result = session.result
    assert result is not None
    shown = box_suggestions(session)
    assert [s.detection for s in shown] == list(range(len(result.scores)))
    first = shown[0]
    assert first.box == tuple(float(v) for v in result.boxes[0]) and first.score == float(result.scores[0])
    session.accept_detection(0)
    assert [s.detection for s in box_suggestions(session)] == list(range(1, len(result.scores)))


def test_misses_need_boxes_and_false_positives_need_the_verified_mark(session: Session) -> None:
    assert image_misses(session) == replace(image_misses(session), findings=[], annotated=False, detected=False)
    session.on_trace("a.png", make_fake_trace())
    assert not image_misses(session).annotated and image_misses(session).detected
    session.choose_label("cat")
    session.add_box(Box(10, 10, 30, 30))  # nothing detects it
    misses = image_misses(session)
    assert misses.annotated and not misses.verified
    assert [f.kind for f in misses.findings] == ["miss"]
    session.toggle_verified()
    assert session.record is not None and session.record.state is ItemState.VERIFIED
    verified = image_misses(session)
    assert verified.verified and "miss" in [f.kind for f in verified.findings]
    assert len(verified.findings) > 1  # the unmatched detections count as false now


def test_review_order_folder_or_most_useful(session: Session) -> None:
    assert review_order(session, most_useful=False).order is None
    ordered = review_order(session, most_useful=True)
    assert sorted(ordered.order or []) == [0, 1] and set(ordered.reasons) == {0, 1}
    assert ordered.status == "most useful first: 0 image(s) scored; none yet: Model > Detect all scores the images"


# -- settings ------------------------------------------------------------------------------
def test_a_session_keeps_thresholds_overlays_and_detect_on_open(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.json")
    settings.set("overlays", {"proposals": True, "gone_layer": True})
    s = session_from_settings(settings)
    assert (s.score_thresh, s.nms_thresh, s.detect_on_open) == (0.5, 0.5, True)
    assert s.overlays["proposals"] and "gone_layer" not in s.overlays
    assert not s.class_agnostic
    s.set_thresholds(0.3, 0.6, class_agnostic=True)
    s.detect_on_open = False
    s.set_overlay("anchors", True)
    save_session(settings, s)
    again = session_from_settings(settings)
    assert (again.score_thresh, again.nms_thresh, again.detect_on_open) == (0.3, 0.6, False)
    assert again.class_agnostic
    assert again.overlays == s.overlays
    assert np.isclose(settings.get("score_thresh"), 0.3)
