"""Traces on disk, per project and per model, so a detected folder steps instantly.

``<project>/.detector_app/traces/<model id>/<sha1 of the key>.npz`` holds one
``DetectionTrace.to_bytes()`` blob per image, made compact first
(``domain.trace_compact``: anchors recomputed on reading, RPN deltas kept for the
anchors that became candidates): about 0.21 MB for the bundled model on a 512 px
image, 0.26 MB on a 4:3 photo (0.9 and 1.3 MB whole). ``model_id`` names the model file (path, size, modification
time), its builder and the device/precision it ran with, so traces of another
model or precision are never shown. Writes are atomic (temporary file, then
rename), so a reader sees whole traces only; a damaged file reads as missing.
``max_bytes`` bounds the folder: the oldest traces go first.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from detector_app.domain.trace import DetectionTrace
from detector_app.domain.trace_compact import compact, expand

TRACES_DIR = "traces"
SUMMARIES = "summaries.jsonl"
#: Default size bound of one model's traces in a project: about 12,000 4:3 photos with the bundled model.
DEFAULT_MAX_BYTES = 3 * 1024 ** 3


def model_id(path: str | None, builder: str | None, device: str, name: str = "") -> str:
    """A short stable id of a model as run: its file (path, size, mtime), builder and device."""
    stamp = ""
    if path:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
    text = f"{path or name}|{stamp}|{builder}|{device}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class TraceStore:
    """One model's traces in one project (thread-safe for one writer and readers)."""

    def __init__(self, store_dir: str | Path, model: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(store_dir) / TRACES_DIR / model
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the folder, counted once, then kept up to date

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha1(key.encode("utf-8")).hexdigest() + ".npz")

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> DetectionTrace | None:
        """The stored trace of ``key``, or None (missing, unreadable or damaged)."""
        try:
            return expand(DetectionTrace.from_bytes(self._path(key).read_bytes()))
        except Exception:  # noqa: BLE001 - a missing file, or zipfile / numpy / JSON errors of a damaged one
            return None

    def put(self, key: str, trace: DetectionTrace) -> Path:
        """Store ``trace`` for ``key`` (replacing any), then keep the folder under ``max_bytes``."""
        path = self._path(key)
        blob = compact(trace).to_bytes()
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._total is None:
                self._total = self.size_bytes()
            old = path.stat().st_size if path.is_file() else 0
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
            self._total += len(blob) - old
            if self._total > self.max_bytes:
                self._trim()
        return path

    def put_summary(self, key: str, summary: dict[str, object]) -> None:
        """Append ``{"key": key, **summary}`` to the model's summaries (one JSON line per
        image: what ranking needs without reading the traces back)."""
        import json

        line = json.dumps({"key": key, **summary}) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / SUMMARIES, "a", encoding="utf-8") as f:
                f.write(line)

    def summaries(self) -> dict[str, dict[str, object]]:
        """Key -> the latest summary stored for it (a damaged line is skipped)."""
        import json

        out: dict[str, dict[str, object]] = {}
        try:
            text = (self.folder / SUMMARIES).read_text(encoding="utf-8")
        except OSError:
            return out
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("key"), str):
                out[row.pop("key")] = row
        return out

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.npz")) if self.folder.is_dir() else 0

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.npz")) if self.folder.is_dir() else 0

    def _trim(self) -> None:
        """Delete the oldest traces until the folder is at most 90% of ``max_bytes``
        (a margin, so that a full folder is not scanned again on every write)."""
        files = sorted((p.stat().st_mtime_ns, p.stat().st_size, p) for p in self.folder.glob("*.npz"))
        total = sum(size for _, size, _ in files)
        for _, size, p in files:
            if total <= self.max_bytes * 0.9:
                break
            p.unlink(missing_ok=True)
            total -= size
        self._total = total


__all__ = ["DEFAULT_MAX_BYTES", "TRACES_DIR", "TraceStore", "model_id"]
