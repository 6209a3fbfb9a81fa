"""The recall funnel on hand-built traces (the miss scenarios of ``tests.helpers.traces``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detector_app.domain.diagnosis import Stage
from detector_app.domain.funnel import STAGES, Funnel, object_stages, size_of
from tests.helpers.traces import FAR, G, make, one_proposal, shifted


def test_stages_of_one_object() -> None:
    trace = make(anchors=[shifted(4), FAR, FAR, FAR], candidates=[(shifted(2), 0.9, 0)],
                 proposals=[(FAR, 0.95, 1), (shifted(2), 0.9, 0)],
                 probs=[[0.9, 0.05, 0.05], [0.3, 0.4, 0.3]], refined=[[FAR] * 3, [FAR, shifted(1), FAR]])
    o = object_stages("a.png", trace, trace.postprocess(score_thresh=0.5), G, "cat", 0.5)
    assert o.best_anchor_iou == pytest.approx(36 / 44, abs=1e-4) and o.size == "medium"
    assert o.rpn_rank == 2  # covered by the second-best proposal
    assert not o.roi_ok and not o.detected and o.lost_at is Stage.BELOW_SCORE  # cat 0.4 <= 0.5
    passes = o.passes()
    assert passes["anchor IoU>=0.7"] and passes["RPN@50"] and not passes["RoI head"] and not passes["final"]
    o = object_stages("a.png", trace, trace.postprocess(score_thresh=0.3), G, "cat", 0.3)
    assert o.roi_ok and o.detected and o.lost_at is Stage.DETECTED


def test_funnel_aggregates_by_stage_class_and_size() -> None:
    f = Funnel(model="hand")
    detected = one_proposal([0.05, 0.9, 0.05], shifted(2))
    background = one_proposal([0.9, 0.06, 0.04], shifted(2))
    f.add_image("a.png", detected, detected.postprocess(score_thresh=0.5),
                [(np.array(G), "cat"), (np.array([0.0, 0.0, 20.0, 20.0]), "dog")], 0.5)
    f.add_image("b.png", background, background.postprocess(score_thresh=0.5), [(np.array(G), "cat")], 0.5)
    assert f.images == 2 and len(f.objects) == 3
    r = f.recall()
    assert list(r) == list(STAGES)
    assert r["final"] == pytest.approx(1 / 3) and r["RPN@50"] == pytest.approx(2 / 3)
    assert f.recall(f.groups("label")["cat"])["final"] == 0.5
    assert list(f.groups("size")) == ["small", "medium"]  # 20 x 20 = 400 px < 32^2 <= 40 x 40
    assert f.lost_at() == {Stage.NO_ANCHOR.value: 1, Stage.ROI_BACKGROUND.value: 1}
    doc = json.loads(json.dumps(f.to_dict()))
    assert doc["schema"] == "detector_app.recall_funnel" and doc["version"] == 1
    assert doc["overall"]["objects"] == 3 and doc["by_class"]["dog"]["recall"]["final"] == 0.0
    assert doc["objects"][2] == {"image": "b.png", "label": "cat", "size": "medium", "best_anchor_iou": 0.0,
                                 "rpn_rank": 1, "roi_ok": False, "detected": False,
                                 "lost_at": "RoI head: background"}
    table = f.table().splitlines()
    assert table[0].split() == ["stage", "all", "(3)", "small", "(1)", "medium", "(2)", "cat", "(2)", "dog", "(1)"]
    assert table[-1].split()[1:] == ["0.333", "0.000", "0.500", "0.500", "0.000"]


def test_size_buckets_are_cocos() -> None:
    assert size_of((0, 0, 31, 33)) == "small" and size_of((0, 0, 32, 32)) == "medium"
    assert size_of((0, 0, 96, 96)) == "large" and size_of((0, 0, 95, 96)) == "medium"
