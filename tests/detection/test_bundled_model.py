"""The bundled default model (``models/default.pt``) and its card's numbers.

Skipped while the model file does not exist. When it does, its held-out scores
must be stored in ``models/default.eval.json``, written by::

    detector-app synth --out data/holdout --images 200 --seed 3000
    detector-app evaluate --data data/holdout --model models/default.pt --json models/default.eval.json

This test regenerates the same holdout (the generator writes the same bytes for
a seed), evaluates the model the same way (``detector-app evaluate``, batch 4)
and compares AP@[.5:.95], AP50 and AP75; then the same with ``--precision bf16``
against ``models/default.eval.bf16.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detector_app.cli import main
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.hub import bundled_model_path
from detector_app.detection.synthetic import CLASS_NAMES

MODEL_PATH = bundled_model_path()
EVAL_JSON = MODEL_PATH.with_name("default.eval.json")
#: The same holdout scored with ``--precision bf16`` (what ``auto`` runs on CPUs with AMX / AVX-512-BF16).
EVAL_BF16_JSON = MODEL_PATH.with_name("default.eval.bf16.json")
#: The model card's holdout: ``detector-app synth --images 200 --seed 3000`` (512 x 512, jpg).
HOLDOUT_SEED = 3000
HOLDOUT_IMAGES = 200
MAX_BYTES = 20 * 1024 * 1024
TOLERANCE = 0.005
EVAL_COMMAND = (f"detector-app synth --out data/holdout --images {HOLDOUT_IMAGES} --seed {HOLDOUT_SEED} && "
                f"detector-app evaluate --data data/holdout --model models/default.pt --json models/default.eval.json")

pytestmark = [
    pytest.mark.skipif(not MODEL_PATH.is_file(), reason=f"no bundled model at {MODEL_PATH} (not trained yet)"),
    pytest.mark.usefixtures("one_thread"),
]


def test_bundled_model_is_small_and_loads_weights_only() -> None:
    size = MODEL_PATH.stat().st_size
    assert size < MAX_BYTES, f"{MODEL_PATH} is {size / 2**20:.1f} MiB; the target is < 20 MB (store it as fp16)"
    raw = torch.load(MODEL_PATH, map_location="cpu", weights_only=True)  # no pickled code in the file
    assert raw["format"] == "detector_app.checkpoint"
    loaded = load_checkpoint(MODEL_PATH)
    assert loaded.kind == "checkpoint"
    assert loaded.class_names == ["__background__", *CLASS_NAMES]
    assert loaded.config.num_classes == 6 and loaded.config.builder == "small"
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())  # fp16 on disk, fp32 in use
    assert not loaded.model.training


def test_holdout_reproduces_the_cards_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert EVAL_JSON.is_file(), f"{EVAL_JSON} is missing; write it with: {EVAL_COMMAND}"
    card = json.loads(EVAL_JSON.read_text(encoding="utf-8"))
    assert card.get("num_images") == HOLDOUT_IMAGES, (
        f"{EVAL_JSON} scores {card.get('num_images')} images; this test regenerates the holdout of "
        f"{HOLDOUT_IMAGES} images with seed {HOLDOUT_SEED}: {EVAL_COMMAND}"
    )
    holdout = tmp_path / "holdout"
    assert main(["synth", "--out", str(holdout), "--images", str(HOLDOUT_IMAGES),
                 "--seed", str(HOLDOUT_SEED)]) == 0
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(holdout), "--model", str(MODEL_PATH), "--device", "cpu",
                 "--json", str(out)]) == 0
    capsys.readouterr()
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["num_images"] == HOLDOUT_IMAGES
    for key in ("AP", "AP50", "AP75"):
        assert abs(got[key] - card[key]) <= TOLERANCE, (
            f"{key}: {got[key]:.4f} on a fresh holdout (seed {HOLDOUT_SEED}, {HOLDOUT_IMAGES} images) "
            f"but {EVAL_JSON.name} says {card[key]:.4f}"
        )
    assert set(got["per_class"]) == set(CLASS_NAMES)
    # the bfloat16 backbone (the default on CPUs with AMX / AVX-512-BF16) scores as its card says,
    # and within 0.01 of float32: the speed-up costs no accuracy
    assert EVAL_BF16_JSON.is_file(), f"{EVAL_BF16_JSON} is missing: evaluate ... --precision bf16 --json {EVAL_BF16_JSON}"
    card16 = json.loads(EVAL_BF16_JSON.read_text(encoding="utf-8"))
    out16 = tmp_path / "eval.bf16.json"
    assert main(["evaluate", "--data", str(holdout), "--model", str(MODEL_PATH), "--device", "cpu",
                 "--precision", "bf16", "--json", str(out16)]) == 0
    capsys.readouterr()
    got16 = json.loads(out16.read_text(encoding="utf-8"))
    assert got16["precision"] == "bf16"
    for key in ("AP", "AP50", "AP75"):
        assert abs(got16[key] - card16[key]) <= TOLERANCE, f"bf16 {key}: {got16[key]:.4f} vs {card16[key]:.4f}"
        assert abs(got16[key] - got[key]) <= 0.01, f"bf16 {key} {got16[key]:.4f} vs fp32 {got[key]:.4f}"
