"""The legend shows the same colours the layers draw with."""

from __future__ import annotations

from detector_app.qt.colors import class_rgb
from detector_app.qt.legend import LegendWidget
from detector_app.qt.overlay_style import DEFAULT_STYLE


def test_legend_rows_match_layer_colours(qtbot, canvas_names=("cat", "dog")):
    w = LegendWidget()
    qtbot.addWidget(w)
    w.set_classes(["__background__", *canvas_names], counts={"dog": 3})
    boxes = [("dashed, \u201cclass 0.97\u201d: the model's suggestion (Enter accepts it)", (200, 200, 200)),
             ("solid, \u201cclass\u201d: your annotation (accepted or drawn)", (200, 200, 200))]
    assert w.entries() == [("cat", class_rgb(1)), ("dog (3)", class_rgb(2)), *boxes]
    w.set_anchor_scales([32.0, 64.0])
    w.set_show_anchor_labels(True)
    w.set_show_objectness(True)
    entries = w.entries()
    assert ("scale 1: 64 px", DEFAULT_STYLE.anchor_scale_color(1).getRgb()[:3]) in entries
    assert ("positive (dotted, bold)", DEFAULT_STYLE.positive_color.getRgb()[:3]) in entries
    assert len(entries) == 2 + 2 + 2 + 3
    w.set_show_anchor_labels(True, crossing=True)  # a model with the paper's cross-boundary rule
    assert ("ignored: crosses the image boundary (sampled)", DEFAULT_STYLE.boundary_color.getRgb()[:3]) in w.entries()
    assert len(w.entries()) == 2 + 2 + 2 + 4
    w.set_anchor_scales(None)
    w.set_show_anchor_labels(False)
    assert len(w.entries()) == 2 + 2
