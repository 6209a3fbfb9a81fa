"""The bundled default model (``models/default.pt``) and its card's numbers.

Skipped while the model file does not exist. When it does, its held-out scores
must be stored in ``models/default.eval.json``, written by::

    detector-app synth --out data/holdout --images 200 --seed 3000
    detector-app evaluate --data data/holdout --model models/default.pt --json models/default.eval.json

This test regenerates the same holdout (the generator writes the same bytes for
a seed), evaluates the model the same way (``detector-app evaluate``, batch 4)
and compares AP@[.5:.95], AP50 and AP75 in float32; where CPU bf16 is measured
fast, the same with ``--precision bf16`` against ``models/default.eval.bf16.json``.
The card's two generalisation sets are reproduced the same way: the wide style's
holdout (``models/default.eval.wide.json``) and the five classes drawn by
independent code (``benchmarks/foreign_shapes.py``, ``models/default.eval.foreign.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from detector_app.cli import main
from detector_app.detection.checkpoints import load_checkpoint
from detector_app.detection.hub import bundled_model_path
from detector_app.detection.synthetic import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[2]
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
    assert loaded.config.num_classes == 6 and loaded.config.builder == "lite"
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())  # fp16 on disk, fp32 in use
    assert not loaded.model.training


@pytest.fixture(scope="module")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The card's holdout, regenerated (the generator writes the same bytes for a seed)."""
    out = tmp_path_factory.mktemp("bundled") / "holdout"
    assert main(["synth", "--out", str(out), "--images", str(HOLDOUT_IMAGES), "--seed", str(HOLDOUT_SEED)]) == 0
    return out


def _card(path: Path, command: str) -> dict:
    assert path.is_file(), f"{path} is missing; write it with: {command}"
    card = json.loads(path.read_text(encoding="utf-8"))
    assert card.get("num_images") == HOLDOUT_IMAGES, (
        f"{path} scores {card.get('num_images')} images; this test regenerates the holdout of "
        f"{HOLDOUT_IMAGES} images with seed {HOLDOUT_SEED}: {command}"
    )
    return card


def _evaluate(holdout: Path, out: Path, precision: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["evaluate", "--data", str(holdout), "--model", str(MODEL_PATH), "--device", "cpu",
                 "--precision", precision, "--json", str(out)]) == 0
    capsys.readouterr()
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["num_images"] == HOLDOUT_IMAGES and got["precision"] == precision
    return got


@pytest.mark.slow
def test_holdout_reproduces_the_cards_numbers(holdout: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """float32, the card's numbers: runs on every CPU (about 200 x 0.2-0.3 s with 2 threads)."""
    card = _card(EVAL_JSON, EVAL_COMMAND)
    got = _evaluate(holdout, tmp_path / "eval.json", "fp32", capsys)
    for key in ("AP", "AP50", "AP75"):
        assert abs(got[key] - card[key]) <= TOLERANCE, (
            f"{key}: {got[key]:.4f} on a fresh holdout (seed {HOLDOUT_SEED}, {HOLDOUT_IMAGES} images) "
            f"but {EVAL_JSON.name} says {card[key]:.4f}"
        )
    assert set(got["per_class"]) == set(CLASS_NAMES)


@pytest.mark.slow
@pytest.mark.fast_bf16
def test_bf16_holdout_reproduces_its_card_and_stays_within_0_01_of_fp32(
        holdout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bfloat16 path (what ``auto`` runs where bf16 is measured fast) scores as
    its card says, and within 0.01 of float32's card: the speed-up costs no
    accuracy. Only where bf16 is fast: elsewhere it takes 20x float32's time."""
    card32 = _card(EVAL_JSON, EVAL_COMMAND)
    card16 = _card(EVAL_BF16_JSON, f"evaluate ... --precision bf16 --json {EVAL_BF16_JSON}")
    got16 = _evaluate(holdout, tmp_path / "eval.bf16.json", "bf16", capsys)
    for key in ("AP", "AP50", "AP75"):
        assert abs(got16[key] - card16[key]) <= TOLERANCE, f"bf16 {key}: {got16[key]:.4f} vs {card16[key]:.4f}"
        assert abs(got16[key] - card32[key]) <= 0.01, f"bf16 {key} {got16[key]:.4f} vs fp32 {card32[key]:.4f}"


#: The card's generalisation sets: (eval JSON, how the set is written).
GENERALISATION = {
    "wide": (MODEL_PATH.with_name("default.eval.wide.json"),
             f"detector-app synth --out data/wide --images {HOLDOUT_IMAGES} --seed {HOLDOUT_SEED} --style wide"),
    "foreign": (MODEL_PATH.with_name("default.eval.foreign.json"),
                f"python benchmarks/foreign_shapes.py data/foreign --images {HOLDOUT_IMAGES} --seed 0"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GENERALISATION))
def test_generalisation_sets_reproduce_the_cards_numbers(name: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The wide style's holdout and the independently drawn shapes score as the card says."""
    card_path, command = GENERALISATION[name]
    out = tmp_path / name
    if name == "wide":
        assert main(["synth", "--out", str(out), "--images", str(HOLDOUT_IMAGES), "--seed", str(HOLDOUT_SEED),
                     "--style", "wide"]) == 0
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from foreign_shapes import write_foreign

        write_foreign(out, HOLDOUT_IMAGES, seed=0)
    card = _card(card_path, command + f" && detector-app evaluate --data data/{name} ... --json {card_path.name}")
    got = _evaluate(out, tmp_path / "eval.json", "fp32", capsys)
    for key in ("AP", "AP50", "AP75"):
        assert abs(got[key] - card[key]) <= TOLERANCE, f"{name} {key}: {got[key]:.4f} vs the card's {card[key]:.4f}"
