"""Path helpers the writers share: the string-only fast path of ``record_relpaths``
gives what ``relpath_posix`` gives; staged writes land in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.formats.dataset import record_relpaths, relpath_posix, write_text_file

PATHS = ["a.jpg", "sub/b.png", "../outside/c.jpg", "sub/../d.jpg", "./e.jpg", "deep/x/../../f.jpg",
         "\u00e9t\u00e9/g h.jpg"]


@pytest.mark.parametrize("same_root", [True, False])
def test_record_relpaths_equal_relpath_posix(tmp_path: Path, same_root: bool) -> None:
    root = tmp_path / "ds"
    start = root if same_root else tmp_path / "elsewhere" / "json"
    expected = [relpath_posix(root / p, start) for p in PATHS]
    assert record_relpaths(root, PATHS, start) == expected
    abs_path = str(tmp_path / "abs.jpg")
    assert record_relpaths(root, [abs_path], start) == [relpath_posix(Path(abs_path), start)]


def test_write_text_file_staged_and_atomic(tmp_path: Path) -> None:
    write_text_file(tmp_path / "a.txt", "caf\u00e9\n", staged=True)
    write_text_file(tmp_path / "b.txt", "x\n")
    assert (tmp_path / "a.txt").read_bytes() == "caf\u00e9\n".encode()
    assert (tmp_path / "b.txt").read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temporary files left


def test_unique_stems_keep_names_and_prefix_only_real_collisions() -> None:
    from detector_app.domain import ImageRecord
    from detector_app.formats import unique_stems

    recs = [ImageRecord("images/holdout_0000.png"), ImageRecord("a/cat.jpg"), ImageRecord("b/Cat.png"),
            ImageRecord("clip.mp4", frame_index=12), ImageRecord("x/dog.jpg")]
    assert unique_stems(recs) == ["holdout_0000", "a__cat", "b__Cat", "clip_f000012", "dog"]
    same = [ImageRecord("a/cat.jpg"), ImageRecord("a/cat.png")]  # the same folders too: numbered
    assert unique_stems(same) == ["a__cat", "a__cat_2"]


def test_unique_stems_keep_spaces_and_non_ascii_and_replace_only_what_no_filesystem_takes() -> None:
    from detector_app.domain import ImageRecord
    from detector_app.formats import unique_stems

    recs = [ImageRecord("photos/猫 #1.jpg"), ImageRecord("photos/été à la plage.png"), ImageRecord("x/a:b?.png")]
    assert unique_stems(recs) == ["猫 #1", "été à la plage", "a_b"]
