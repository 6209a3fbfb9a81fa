"""``detector-app models``: the models this installation can use."""

from __future__ import annotations

import argparse

HELP = "list the bundled model, checkpoints from models.json and torchvision files in the torch hub cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def run(args: argparse.Namespace) -> int:
    import json

    from detector_app.detection.checkpoints import CheckpointError, peek_checkpoint
    from detector_app.detection.hub import (
        MODELS_FILE, bundled_model_path, config_dir, configured_checkpoints, hub_dir, list_hub_checkpoints,
    )

    entries: list[dict[str, object]] = []

    def add(source: str, path: object, quick: dict[str, object] | None = None) -> None:
        from pathlib import Path

        p = Path(str(path))
        entry: dict[str, object] = {"source": source, "path": str(p), "builder": None, "classes": None,
                                    "size": None, "status": "ok"}
        if not p.is_file():
            entry["status"] = "missing"
        elif quick is not None:
            entry.update(quick)
        else:
            try:
                info = peek_checkpoint(p)
                entry.update(builder=info.builder, classes=info.num_classes - 1, size=info.size_bytes)
                if info.meta:
                    entry["meta"] = {k: v for k, v in info.meta.items() if isinstance(v, (str, int, float, bool))}
            except CheckpointError as exc:
                entry["status"] = f"unreadable: {exc}"
        entries.append(entry)

    add("bundled", bundled_model_path())
    models_json = config_dir() / MODELS_FILE
    try:
        for p in configured_checkpoints():
            add("models.json", p)
    except CheckpointError as exc:
        entries.append({"source": "models.json", "path": str(models_json), "builder": None, "classes": None,
                        "size": None, "status": f"unreadable: {exc}"})
    for f in list_hub_checkpoints():
        add("torch hub", f.path, {"builder": f.builder, "size": f.size_bytes})

    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    rows = [("SOURCE", "BUILDER", "CLASSES", "SIZE", "STATUS", "PATH")]
    for e in entries:
        rows.append((str(e["source"]), str(e["builder"] or "-"), str(e["classes"] if e["classes"] is not None else "-"),
                     _size(int(e["size"])) if e["size"] else "-", str(e["status"])[:60], str(e["path"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1])
    print(f"(extra checkpoints: list paths in {models_json}; hub cache: {hub_dir()})")
    return 0
