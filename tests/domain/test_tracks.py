"""Tracks: linear interpolation between keyframes (as CVAT's) and frame-to-frame IoU linking."""

from __future__ import annotations

import numpy as np
import pytest

from detector_app.domain.boxes import Box
from detector_app.domain.tracks import interpolate_box, interpolate_track, link_by_iou


def test_interpolation_moves_each_corner_linearly() -> None:
    a, b = Box(0, 0, 10, 10), Box(40, 20, 60, 40)  # moves right and down, grows
    assert interpolate_box(a, 10, b, 14, 12) == Box(20, 10, 35, 25)
    assert interpolate_box(a, 10, b, 14, 14) == b
    track = interpolate_track({10: a, 14: b, 16: Box(40, 20, 60, 40)})
    assert sorted(track) == [11, 12, 13, 15]  # between keyframes only, keyframes themselves untouched
    assert track[11] == Box(10, 5, 22.5, 17.5) and track[15] == b  # standing still between 14 and 16
    assert interpolate_track({3: a}) == {}
    with pytest.raises(ValueError, match="two keyframes at one frame"):
        interpolate_box(a, 5, b, 5, 5)


def test_linking_pairs_the_same_object_by_class_and_iou() -> None:
    prev = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], np.float64)
    now = np.array([[1, 0, 11, 10], [21, 0, 31, 10], [100, 100, 110, 110], [50, 51, 60, 61]], np.float64)
    link = link_by_iou(prev, ["cat", "dog", "cat"], now, ["cat", "dog", "cat", "fox"])
    assert link.tolist() == [0, 1, -1, -1]  # the fox overlaps a cat: another class, a new object


def test_each_previous_box_continues_once_the_best_overlap_first() -> None:
    prev = np.array([[0, 0, 10, 10]], np.float64)
    now = np.array([[4, 0, 14, 10], [1, 0, 11, 10]], np.float64)  # IoU 0.43 and 0.82
    assert link_by_iou(prev, ["cat"], now, ["cat", "cat"]).tolist() == [-1, 0]
    assert link_by_iou(prev, ["cat"], np.zeros((0, 4)), []).tolist() == []
