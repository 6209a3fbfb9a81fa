"""A training run's files and its loss log.

For a run writing ``<out>`` (``runs/m.pt``): the checkpoint itself (every
epoch), ``runs/m.best.pt`` (best validation AP), ``runs/m.log.csv`` (one row
per logged iteration, columns :data:`CSV_COLUMNS`), ``runs/m.log.json`` (the
settings and every iteration's losses, rewritten after every epoch) and
``runs/m.train-state.pt`` (what ``--resume`` restores).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from detector_app.detection.config import ModelConfig
from detector_app.detection.training_config import TrainConfig
from detector_app.domain.fsutil import atomic_write_text

#: The loss terms of torchvision's Faster R-CNN in training mode; their sum is ``loss``.
LOSS_TERMS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")
CSV_COLUMNS = ("iteration", "epoch", "lr", "loss", *LOSS_TERMS, "seconds")


@dataclass(frozen=True)
class RunFiles:
    """The files of the run that writes ``checkpoint`` (see the module docstring)."""

    checkpoint: Path
    best: Path
    csv: Path
    json: Path
    state: Path

    @classmethod
    def of(cls, out: str | Path) -> RunFiles:
        out = Path(out)
        stem = out.with_suffix("")
        return cls(checkpoint=out, best=Path(f"{stem}.best.pt"), csv=Path(f"{stem}.log.csv"),
                   json=Path(f"{stem}.log.json"), state=Path(f"{stem}.train-state.pt"))


class TrainingLog:
    """The CSV and JSON loss log of one run (written by the main process only).

    A history row is ``{"iteration": int (1-based), "epoch": int (1-based), "lr": float,
    <LOSS_TERMS and "loss">: float, "seconds": float (since the run started)}``.
    """

    def __init__(self, files: RunFiles, log_every: int) -> None:
        self.files = files
        self.log_every = log_every

    def start(self, resume_iteration: int | None) -> None:
        """Begin the CSV: a header for a new run. A resumed run (``resume_iteration``,
        the iteration its checkpoint was saved at) keeps the rows up to that
        iteration and drops those an interrupted epoch logged after it, so the
        file reads as one uninterrupted run."""
        path = self.files.csv
        if resume_iteration is None or not path.is_file():
            self._write_rows([list(CSV_COLUMNS)])
            return
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        self._write_rows([rows[0], *(r for r in rows[1:] if r and int(r[0]) <= resume_iteration)])

    def wants(self, iteration: int, total: int) -> bool:
        """Whether iteration ``iteration`` (1-based) of ``total`` goes into the CSV:
        every ``log_every``-th, and the first and the last."""
        return iteration % self.log_every == 0 or iteration == total or iteration == 1

    def append(self, row: Mapping[str, Any]) -> None:
        """Add a history row to the CSV (absent loss terms as 0)."""
        with open(self.files.csv, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([row["iteration"], row["epoch"], f"{row['lr']:.6g}", f"{row['loss']:.6g}",
                                    *(f"{row.get(k, 0.0):.6g}" for k in LOSS_TERMS), row["seconds"]])

    def write_json(self, cfg: TrainConfig, model_config: ModelConfig, class_names: list[str],
                   history: list[dict[str, Any]], val_history: list[dict[str, Any]]) -> None:
        """Rewrite the JSON log: the run's settings, model config, classes, every history
        row and every validation row (``{"epoch", "iteration", "AP", "AP50", "AP75"}``)."""
        doc = {"config": {k: (v.to_dict() if isinstance(v, ModelConfig) else v) for k, v in asdict(cfg).items()},
               "model_config": model_config.to_dict(), "class_names": class_names,
               "history": history, "val": val_history}
        atomic_write_text(self.files.json, json.dumps(doc, indent=1), durable=False)  # rewritten every epoch

    def logged(self, iteration: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(history, val_history)`` of the JSON log up to ``iteration`` (a resumed run
        continues them); empty lists when there is no log."""
        if not self.files.json.is_file():
            return [], []
        logged = json.loads(self.files.json.read_text(encoding="utf-8"))
        return [h for h in logged.get("history", []) if h["iteration"] <= iteration], list(logged.get("val", []))

    def _write_rows(self, rows: list[list[str]]) -> None:
        with open(self.files.csv, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
