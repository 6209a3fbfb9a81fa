"""Typed model configuration that round-trips through JSON.

A config names a builder (see ``detector_app.detection.builders.BUILDERS``)
and the few knobs the project changes. ``None`` means the builder's default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from detector_app.domain.errors import UserError

#: Builders whose architecture is exactly torchvision's (state dicts load unchanged).
TORCHVISION_BUILDERS = (
    "resnet50_fpn",
    "resnet50_fpn_v2",
    "mobilenet_v3_large_fpn",
    "mobilenet_v3_large_320_fpn",
)
ALL_BUILDERS = ("paper", "small", "lite", *TORCHVISION_BUILDERS)


class ConfigError(UserError, ValueError):
    """A model config that cannot be built."""


#: Allowed ranges of the config's numbers: values outside make a model that finds nothing (0 anchors,
#: top-n 0), or one whose layers or inputs take gigabytes (min_size 20000, representation_size 60000).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "num_classes": (2, 10_000), "min_size": (32, 4096), "max_size": (32, 8192),
    "rpn_pre_nms_top_n_test": (1, 100_000), "rpn_post_nms_top_n_test": (1, 100_000),
    "rpn_pre_nms_top_n_train": (1, 100_000), "rpn_post_nms_top_n_train": (1, 100_000),
    "box_detections_per_img": (1, 10_000), "representation_size": (1, 8192),
}
_FLOAT_RANGES: dict[str, tuple[float, float]] = {"box_score_thresh": (0.0, 1.0), "box_nms_thresh": (0.0, 1.0)}


@dataclass
class ModelConfig:
    """What to build. ``num_classes`` counts the background class.

    Anchor ``anchor_sizes`` holds one tuple of sizes (resized-image pixels) per
    feature level; ``aspect_ratios`` one tuple of ``h / w`` ratios per level.
    """

    builder: str = "small"
    num_classes: int = 6
    min_size: int | None = None
    max_size: int | None = None
    anchor_sizes: tuple[tuple[float, ...], ...] | None = None
    aspect_ratios: tuple[tuple[float, ...], ...] | None = None
    rpn_pre_nms_top_n_test: int | None = None
    rpn_post_nms_top_n_test: int | None = None
    rpn_pre_nms_top_n_train: int | None = None
    rpn_post_nms_top_n_train: int | None = None
    box_score_thresh: float | None = None
    box_nms_thresh: float | None = None
    box_detections_per_img: int | None = None
    representation_size: int | None = None  # box head width (paper, small)
    # RPN training rules (detection/seed_rpn.py); None: the paper's for the paper builder, torchvision's otherwise
    rpn_cross_boundary: str | None = None  # "keep" (torchvision) | "ignore" (paper: not labelled, never sampled)
    rpn_loss: str | None = None  # "torchvision" | "seed" (1/Ncls BCE + 10/Nreg smooth L1, Nreg = anchor locations)
    extra: dict[str, Any] = field(default_factory=dict)  # builder-specific

    def __post_init__(self) -> None:
        if self.builder not in ALL_BUILDERS:
            raise ConfigError(
                f"unknown model builder {self.builder!r}; choose one of {', '.join(ALL_BUILDERS)}"
            )
        if isinstance(self.num_classes, int) and not isinstance(self.num_classes, bool) and self.num_classes < 2:
            raise ConfigError(f"num_classes counts the background and must be >= 2, got {self.num_classes}")
        # (any other number or type: refused by _check_ranges, never int()ed: "x" and NaN raised ValueError)
        for name in ("anchor_sizes", "aspect_ratios"):
            levels = getattr(self, name)
            if levels is None:
                continue
            try:
                if isinstance(levels, (str, bytes)) or any(isinstance(lv, (str, bytes)) for lv in levels):
                    raise TypeError
                setattr(self, name, tuple(tuple(float(v) for v in lv) for lv in levels))
            except (TypeError, ValueError):
                raise ConfigError(f"model config: {name} must be one list of numbers per feature level, "
                                  f"got {levels!r:.60}") from None
        if not isinstance(self.extra, dict):
            raise ConfigError(f"model config: extra must be a mapping, got {self.extra!r:.40}")
        if (self.anchor_sizes is None) != (self.aspect_ratios is None):
            raise ConfigError("anchor_sizes and aspect_ratios must be given together")
        if self.anchor_sizes is not None and len(self.anchor_sizes) != len(self.aspect_ratios or ()):
            raise ConfigError("anchor_sizes and aspect_ratios need one entry per feature level")
        self._check_ranges()
        for name, allowed in (("rpn_cross_boundary", ("keep", "ignore")), ("rpn_loss", ("torchvision", "seed"))):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ConfigError(f"model config: {name} must be one of {', '.join(allowed)}, got {value!r:.40}")

    def seed_rules(self) -> tuple[bool, bool]:
        """``(ignore_cross_boundary, seed_loss)`` as this config resolves them:
        the paper builder follows the paper unless told otherwise, the others torchvision."""
        paper = self.builder == "paper"
        cross = self.rpn_cross_boundary or ("ignore" if paper else "keep")
        loss = self.rpn_loss or ("seed" if paper else "torchvision")
        return cross == "ignore", loss == "seed"

    def _check_ranges(self) -> None:
        for name, (lo, hi) in _INT_RANGES.items():
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"model config: {name} must be an integer from {lo} to {hi}, got {v!r:.40}")
        for name, (flo, fhi) in _FLOAT_RANGES.items():
            fv = getattr(self, name)
            if fv is None:
                continue
            if isinstance(fv, bool) or not isinstance(fv, (int, float)) or not (flo <= fv <= fhi):  # NaN fails too
                raise ConfigError(f"model config: {name} must be a number from {flo:g} to {fhi:g}, got {fv!r:.40}")
        if self.min_size is not None and self.max_size is not None and self.max_size < self.min_size:
            raise ConfigError(f"model config: max_size ({self.max_size}) is below min_size ({self.min_size})")
        for name, levels, vlo, vhi in (("anchor_sizes", self.anchor_sizes, 1.0, 4096.0),
                                       ("aspect_ratios", self.aspect_ratios, 0.01, 100.0)):
            if levels is None:
                continue
            if not levels or any(len(lv) == 0 for lv in levels):
                raise ConfigError(f"model config: {name} needs at least one value per feature level "
                                  "(no anchors: the model could find nothing)")
            bad = [v for lv in levels for v in lv if not vlo <= v <= vhi]  # NaN fails too
            if bad:
                raise ConfigError(f"model config: {name} must lie from {vlo:g} to {vhi:g}, got {bad[0]!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("anchor_sizes", "aspect_ratios"):
            if out[key] is not None:
                out[key] = [list(v) for v in out[key]]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("model config JSON must be an object")
        return cls.from_dict(data)

    @classmethod
    def from_arg(cls, arg: str, num_classes: int | None = None) -> ModelConfig:
        """A builder name or a path to a config JSON file (CLI ``--config``)."""
        if arg in ALL_BUILDERS:
            cfg = cls(builder=arg)
        else:
            path = Path(arg)
            if not path.is_file():
                raise ConfigError(
                    f"--config {arg!r} is neither a builder ({', '.join(ALL_BUILDERS)}) nor a JSON file"
                )
            cfg = cls.from_json(path.read_text(encoding="utf-8"))
        if num_classes is not None:
            cfg.num_classes = num_classes
        return cfg
