"""The stepper's class probability chart on its own (``qt/class_chart.py``)."""

from __future__ import annotations

import numpy as np

from detector_app.qt.class_chart import ClassChart, chart_classes


def test_bars_labels_and_tooltip_follow_the_probabilities_and_clear(qtbot):
    chart = ClassChart()
    qtbot.addWidget(chart.plot)
    probs = np.array([0.1, 0.7, 0.2])
    chart.set_probabilities(probs, ["__background__", "cat", "dog"])
    np.testing.assert_allclose(chart.probabilities(), probs)
    assert chart.shown_classes() == [0, 1, 2]
    assert chart.tick_labels() == ["bg", "cat", "dog"]  # not laid out yet: whole names, refitted on resize
    assert chart.plot.toolTip().splitlines() == ["bg: 0.100", "cat: 0.700", "dog: 0.200"]
    chart.set_probabilities(np.zeros(0), [])
    assert chart.probabilities().size == 0 and chart.tick_labels() == [] and chart.plot.toolTip() == ""


def test_many_classes_show_the_background_and_the_most_probable_in_order():
    probs = np.array([0.05, 0.01, 0.3, 0.02, 0.3, 0.2])
    assert chart_classes(probs, top=3) == [0, 2, 4, 5]  # ties: the lower index first
    assert chart_classes(probs, top=5) == [0, 1, 2, 3, 4, 5]
