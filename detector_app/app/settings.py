"""User settings of the GUI (last model, device, thresholds, recent paths, window
layout) in one small JSON file, no Qt.

The file lives in :func:`config_dir` (``$DETECTOR_APP_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/detector_app``, else ``~/.config/detector_app``) and is
written atomically (temporary file + ``os.replace``), so a crash never leaves
half a file. A missing or unreadable file gives the defaults: settings are a
convenience, never a reason not to start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SETTINGS_FILE = "gui_settings.json"

#: Keys and their defaults; unknown keys in the file are kept but ignored here.
DEFAULTS: dict[str, Any] = {
    "model": None,  # model spec (path or "default"); None = the bundled model
    "device": "auto",
    "score_thresh": 0.5,
    "nms_thresh": 0.5,
    "nms_across_classes": False,
    "proposal_top_n": 50,
    "recent_paths": [],
    "overlays": {},
    "detect_on_open": True,
    "window_geometry": None,  # base64 of QMainWindow.saveGeometry()
    "window_state": None,  # base64 of QMainWindow.saveState()
}
MAX_RECENT = 10


def config_dir() -> Path:
    """Folder for user configuration (created on first write, not here)."""
    env = os.environ.get("DETECTOR_APP_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "detector_app"


class Settings:
    """Dict-like settings backed by ``config_dir()/gui_settings.json``.

    ``get`` falls back to :data:`DEFAULTS`; ``set`` changes memory only until
    :meth:`save` (the main window saves on close and after model changes).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / SETTINGS_FILE
        self._data: dict[str, Any] = {}
        self.load_error: str | None = None
        self.load()

    def load(self) -> None:
        """Read the file; on any problem keep defaults and remember why in ``load_error``."""
        self._data = {}
        self.load_error = None
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.load_error = f"{self.path}: settings ignored ({exc})"
            return
        if not isinstance(data, dict):
            self.load_error = f"{self.path}: settings ignored (not a JSON object)"
            return
        self._data = data

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._data:
            return self._data[key]
        return DEFAULTS.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent list (no duplicates, at most ``MAX_RECENT``)."""
        text = str(Path(path).resolve())
        recent = [p for p in self.get("recent_paths") or [] if isinstance(p, str) and p != text]
        self._data["recent_paths"] = [text, *recent][:MAX_RECENT]

    def save(self) -> str | None:
        """Write atomically; returns an error message instead of raising."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError) as exc:
            return f"{self.path}: cannot save settings ({exc})"
        return None


def sample_project(source: Path | None = None) -> Path | None:
    """A writable copy of the bundled samples (``resources/samples``) in the
    config folder, made on first use so the repository stays clean and edits
    persist; ``None`` when the samples are missing. Entries added to the
    samples since the copy was made (e.g. ``photos/``) are copied in; nothing
    the user changed there is touched."""
    import shutil

    src = source or Path(__file__).resolve().parents[2] / "resources" / "samples"
    if not src.is_dir():
        return None
    dst = config_dir() / "samples"
    if not dst.is_dir():
        tmp = dst.with_name(f".samples.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".detector_app"))
        os.replace(tmp, dst)
        return dst
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.name.startswith(".") or target.exists():
            continue
        if entry.is_dir():
            tmp = dst / f".{entry.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(entry, tmp)
            os.replace(tmp, target)
        else:
            shutil.copy2(entry, target)
    return dst
