"""Imports flow one way: qt -> app -> detection | formats | media -> domain; commands
use any layer below qt (only the gui command starts the window); the top-level modules
(cli, __main__, textprogress) use domain only.

Checked statically (every import statement of every module, including ones
inside functions) and dynamically (importing the non-Qt layers loads no Qt).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detector_app"
STDLIB = set(sys.stdlib_module_names)
QT = {"PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6"}

# layer -> (allowed detector_app layers, allowed third-party top-level packages)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "domain": ({"domain"}, {"numpy"}),
    "formats": ({"domain", "formats"}, {"numpy"}),
    "media": ({"domain", "media"}, {"numpy", "cv2"}),
    "detection": ({"domain", "formats", "media", "detection"}, {"numpy", "torch", "torchvision", "cv2", "pycocotools"}),
    "app": ({"domain", "formats", "media", "detection", "app"}, {"numpy", "cv2", "torch", "torchvision"}),
    # widgets never call the model: no detection (torch) import in qt/, it goes through app/
    "qt": ({"domain", "app", "qt"}, {"numpy", "PySide6", "shiboken6", "pyqtgraph"}),
    "commands": ({"domain", "formats", "media", "detection", "app", "commands", "textprogress", "qt"},
                 {"numpy", "cv2", "torch", "torchvision"}),
}
TOP_LEVEL: dict[str, set[str]] = {"cli.py": {"domain"}, "__main__.py": {"cli"}, "textprogress.py": {"domain"},
                                  "__init__.py": set()}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "<relative>"))
    return found


def _violations(layer: str) -> list[str]:
    allowed_layers, allowed_pkgs = RULES[layer]
    bad: list[str] = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for lineno, module in _imports(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(PACKAGE.parent)}:{lineno} imports {module}"
            if module == "<relative>":
                bad.append(where + " (use absolute imports)")
            elif top == "detector_app":
                parts = module.split(".")
                sub = parts[1] if len(parts) > 1 else ""
                if sub not in allowed_layers:
                    bad.append(where)
            elif top in STDLIB or top == "__future__":
                continue
            elif top not in allowed_pkgs:
                bad.append(where)
    return bad


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert _violations(layer) == []


def test_only_qt_layer_imports_qt() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "qt":
            continue
        for lineno, module in _imports(path):
            if module.split(".")[0] in QT:
                # cli.py and commands/gui.py may import the qt layer, never Qt itself
                offenders.append(f"{rel}:{lineno} imports {module}")
    assert offenders == []


@pytest.mark.slow
def test_core_layers_do_not_load_qt_at_runtime() -> None:
    code = (
        "import sys, importlib, pkgutil, detector_app\n"
        "for layer in ('domain', 'formats', 'media', 'detection', 'app'):\n"
        "    pkg = importlib.import_module('detector_app.' + layer)\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_rule_checker_catches_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "detector_app"
    (fake / "domain").mkdir(parents=True)
    (fake / "domain" / "bad.py").write_text("import torch\nfrom detector_app.qt import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert len(_violations("domain")) == 2


def test_only_the_gui_command_starts_qt() -> None:
    offenders = [f"{path.name}:{lineno} imports {module}"
                 for path in sorted((PACKAGE / "commands").glob("*.py")) if path.name != "gui.py"
                 for lineno, module in _imports(path) if module.startswith("detector_app.qt")]
    assert offenders == []


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_top_level_modules_import_only_the_domain(name: str) -> None:
    bad = []
    for lineno, module in _imports(PACKAGE / name):
        parts = module.split(".")
        ours = parts[0] == "detector_app"
        if (ours and (len(parts) < 2 or parts[1] not in TOP_LEVEL[name])) or (
                not ours and parts[0] not in STDLIB and parts[0] != "__future__"):
            bad.append(f"{name}:{lineno} imports {module}")
    assert bad == []


def test_every_package_has_a_rule() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == set(RULES)
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == set(TOP_LEVEL)
