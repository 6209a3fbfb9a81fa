"""StatsPanel: timings, the box funnel, fate counts, objectness histogram."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.qt.stats_panel import StatsPanel, objectness_histogram


@pytest.fixture
def panel(qtbot, fake_trace, fake_result):
    w = StatsPanel()
    qtbot.addWidget(w)
    w.set_trace(fake_trace, fake_result)
    return w


def test_histogram_gets_the_p_proposal_scores(panel, fake_trace):
    edges, counts = panel.histogram()
    assert counts.sum() == fake_trace.num_proposals == 6
    expected, _ = np.histogram(fake_trace.proposal_scores.astype(np.float64), bins=20, range=(0, 1))
    assert counts[:13].sum() == 0 and counts[13:].sum() == 6  # scores 0.7 .. 0.95
    np.testing.assert_array_equal(counts, expected)
    assert len(edges) == 21


def test_histogram_of_all_anchors(panel, fake_trace):
    panel.set_histogram_source("anchors")
    _, counts = panel.histogram()
    assert counts.sum() == fake_trace.num_anchors == 420
    with pytest.raises(ValueError):
        panel.set_histogram_source("pixels")


def test_rows_show_timings_counts_and_fates(panel, fake_trace):
    rows = dict(panel.rows())
    assert rows["  backbone"] == "12.0" and rows["  total"] == "21.2"
    assert rows["  anchors (70 cells \u00d7 6)"] == "420"
    assert rows["  pre-NMS candidates"] == "30"
    assert rows["  proposals (after RPN NMS)"] == "6"
    assert rows["  detections"] == "2"
    assert rows["  became a detection"] == "2"
    assert rows["  below score threshold"] == "1"
    assert rows["  suppressed by NMS"] == "1"
    assert rows["  box too small"] == "1"
    assert rows["  over the per-image cap"] == "1"


def test_a_traced_total_is_shown_once_not_added_to_itself(panel, fake_trace):
    fake_trace.timings_ms = {"transform": 1.0, "backbone": 6.0, "total": 7.5}  # as tracing records them
    panel.set_trace(fake_trace)
    rows = panel.rows()
    assert [r for r in rows if r[0] == "  total"] == [("  total", "7.5")]
    assert dict(rows)["  backbone"] == "6.0"


def test_live_thresholds_update_counts(panel, fake_trace):
    panel.set_result(fake_trace.postprocess(score_thresh=0.85))
    rows = dict(panel.rows())
    assert rows["  detections"] == "1" and rows["  below score threshold"] == "5"


def test_empty_panel(qtbot):
    w = StatsPanel()
    qtbot.addWidget(w)
    assert w.rows()[0][0] == "No detection run yet"
    assert w.histogram()[1].sum() == 0


def test_objectness_histogram_clips():
    edges, counts = objectness_histogram(np.array([-0.5, 0.0, 0.5, 1.0, 1.5]), bins=2)
    assert edges.tolist() == [0.0, 0.5, 1.0] and counts.tolist() == [2, 3]
