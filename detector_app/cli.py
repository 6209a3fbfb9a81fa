"""``detector-app`` command line: one subcommand per module in ``detector_app.commands``.

Each command module defines ``HELP: str``, ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports (torch, Qt) happen inside ``run`` so that
``detector-app --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from detector_app.domain.errors import UserError

#: Subcommand name -> module under ``detector_app.commands``.
COMMANDS: dict[str, str] = {
    "gui": "gui",
    "detect": "detect",
    "models": "models",
    "synth": "synth",
    "train": "train",
    "evaluate": "evaluate",
    "anchors": "anchors",
    "ablate-anchors": "ablate_anchors",
    "convert": "convert",
    "export": "export",
    "import": "import_dataset",
    "diagnose": "diagnose",
    "detect-all": "detect_all",
}


def _load(module: str) -> ModuleType | None:
    name = f"detector_app.commands.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # not written yet
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detector-app",
        description="Faster R-CNN Studio: run a Faster R-CNN detector, see inside it, correct it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(command, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _tolerant_output() -> None:
    """Print what cannot be encoded as escapes rather than fail: a file name read from a
    dataset may hold a lone surrogate ("\\ud800" in JSON), and printing it in a "skipped:"
    line raised UnicodeEncodeError after the work was done (stderr already escapes)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # (a closed or detached stream)
                pass


def main(argv: list[str] | None = None) -> int:
    _tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"detector-app {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing file, a full disk, a read-only mount, ...: one line naming the file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"detector-app {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
