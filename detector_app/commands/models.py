"""``detector-app models``: the models this installation can use."""

from __future__ import annotations

import argparse

HELP = ("list the bundled model, checkpoints from models.json, torchvision files in the torch hub cache and "
        "torchvision's COCO models that can be downloaded; --download NAME fetches one")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.add_argument("--download", metavar="NAME",
                        help="download torchvision's COCO weights NAME (e.g. resnet50_fpn_v2) into the torch hub "
                             "cache, with a progress bar; nothing downloads without this")
    parser.add_argument("--timeout", type=float, default=15.0, metavar="S",
                        help="give up when the server sends nothing for S seconds (default 15)")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _download(name: str, timeout: float) -> int:
    import threading

    from detector_app.detection.zoo import download_model, find_zoo_model
    from detector_app.domain.errors import Cancelled
    from detector_app.textprogress import TextProgressBar

    model = find_zoo_model(name)
    dest = model.path()
    if dest.is_file():
        print(f"{model.title} is already installed: {dest}")
        return 0
    print(f"downloading {model.title} ({model.summary()})\n  from {model.url}\n  to   {dest}")
    cancel = threading.Event()
    try:
        download_model(model, progress=TextProgressBar("download"), cancel=cancel, timeout=timeout)
    except (KeyboardInterrupt, Cancelled):
        print("\ncancelled: nothing was kept")
        return 130
    print(f"installed {dest}; use it with --model {dest.name} or pick \"{model.title}\" in the app")
    return 0


def run(args: argparse.Namespace) -> int:
    import json

    if args.download:
        return _download(args.download, args.timeout)
    entries = _entries()
    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    _print_table(entries)
    return 0


def _entries() -> list[dict[str, object]]:
    """One entry per model: the bundled one, models.json's, the torch hub cache's files,
    then the zoo models not downloaded yet."""
    from detector_app.detection.checkpoints import CheckpointError
    from detector_app.detection.hub import (
        MODELS_FILE,
        bundled_model_path,
        config_dir,
        configured_checkpoints,
        list_hub_checkpoints,
    )

    entries = [_file_entry("bundled", bundled_model_path())]
    try:
        entries += [_file_entry("models.json", p) for p in configured_checkpoints()]
    except CheckpointError as exc:
        entries.append({"source": "models.json", "path": str(config_dir() / MODELS_FILE), "builder": None,
                        "classes": None, "size": None, "status": f"unreadable: {exc}"})
    for f in list_hub_checkpoints():
        entries.append(_file_entry("torch hub", f.path, {"builder": f.builder, "size": f.size_bytes}))
    from detector_app.detection.zoo import zoo_models
    from detector_app.domain.labels import label_names

    for z in zoo_models():
        if not z.installed():
            real_classes = len(label_names(list(z.categories)))
            entries.append({"source": "zoo", "path": str(z.path()), "builder": z.name, "classes": real_classes,
                            "size": z.size_bytes, "status": f"download: models --download {z.name}",
                            "title": z.title, "url": z.url, "box_ap": z.box_ap})
    return entries


def _file_entry(source: str, path: object, quick: dict[str, object] | None = None) -> dict[str, object]:
    """The entry of a model file: ``quick`` facts when given (the hub cache's), else what
    its header says (``peek_checkpoint``); a missing or unreadable file says so."""
    from pathlib import Path

    from detector_app.detection.checkpoints import CheckpointError, peek_checkpoint

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
    return entry


def _print_table(entries: list[dict[str, object]]) -> None:
    """The entries as aligned columns, the path last (it may be long)."""
    from detector_app.detection.hub import MODELS_FILE, config_dir, hub_dir

    rows = [("SOURCE", "BUILDER", "CLASSES", "SIZE", "STATUS", "PATH")]
    for e in entries:
        rows.append((str(e["source"]), str(e["builder"] or "-"), str(e["classes"] if e["classes"] is not None else "-"),
                     _size(int(str(e["size"]))) if e["size"] else "-", str(e["status"])[:60], str(e["path"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1])
    print(f"(extra checkpoints: list paths in {config_dir() / MODELS_FILE}; hub cache: {hub_dir()})")
