"""Size limits that keep the code easy to change: no module over 400 lines, no class over
300, no function (or method) over 60, counted from its ``def`` / ``class`` line to its last.

    python scripts/code_sizes.py detector_app

Prints every piece over its limit and exits 1 when one is not in :data:`ALLOWED`, an
explicit allow-list in which each entry says why (printed beside it). An entry names a
module by its path under the folder given (``qt/canvas.py``), or a class or function in
it by its qualified name (``qt/main_window.py:MainWindow._wire``). Allowed entries that
are no longer over the limits are printed too, to be removed.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MODULE_LINES = 400
CLASS_LINES = 300
FUNCTION_LINES = 60

#: Pieces allowed over the limits for now, each with the reason (printed).
ALLOWED: dict[str, str] = {
    "app/session.py": "the facade over the session's parts: typed read-only properties and one-line "
                      "delegations that keep the API the window and the tests use (docs/architecture.md)",
    "app/session.py:Session": "the facade over the session's parts: typed read-only properties and one-line "
                              "delegations that keep the API the window and the tests use (docs/architecture.md)",
    "app/store.py": "the store's in-memory half: one lock guards the records, the labels and the snapshot a "
                    "flush writes; the file half is store_file.py (docs/architecture.md)",
    "app/store.py:ProjectStore": "one lock guards the records, the labels and the snapshot a flush writes; "
                                 "each edit method is a few lines under it (docs/architecture.md)",
}


@dataclass(frozen=True)
class Oversize:
    """A module, class or function longer than its limit; ``name`` is how :data:`ALLOWED` names it."""

    name: str
    kind: str  # "module" | "class" | "function"
    lines: int
    limit: int


def _pieces(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """``(qualified name, node)`` of every class and function under ``node`` in source
    order, nested ones too (``Outer.method``, ``function.inner``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{child.name}"
            yield name, child
            yield from _pieces(child, f"{name}.")
        else:
            yield from _pieces(child, prefix)


def oversize_in(path: Path, name: str) -> list[Oversize]:
    """What in the module at ``path`` (called ``name`` in reports) is over its limit."""
    source = path.read_text(encoding="utf-8")
    out = []
    lines = len(source.splitlines())
    if lines > MODULE_LINES:
        out.append(Oversize(name, "module", lines, MODULE_LINES))
    for qualname, node in _pieces(ast.parse(source, str(path))):
        assert isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        size = (node.end_lineno or node.lineno) - node.lineno + 1
        kind, limit = ("class", CLASS_LINES) if isinstance(node, ast.ClassDef) else ("function", FUNCTION_LINES)
        if size > limit:
            out.append(Oversize(f"{name}:{qualname}", kind, size, limit))
    return out


def find_oversize(root: Path) -> list[Oversize]:
    """Everything over its limit in the ``.py`` files under ``root``, by path."""
    found = []
    for path in sorted(root.rglob("*.py")):
        found += oversize_in(path, path.relative_to(root).as_posix())
    return found


def report(found: Sequence[Oversize], allowed: Mapping[str, str]) -> tuple[list[str], int]:
    """The lines to print and the exit status: 1 when something over a limit is not allowed."""
    lines, refused = [], 0
    for o in found:
        reason = allowed.get(o.name)
        mark = "allowed" if reason is not None else "OVER"
        text = f"{mark:>7}  {o.name}: {o.kind} of {o.lines} lines (limit {o.limit})"
        lines.append(text + (f": {reason}" if reason is not None else ""))
        refused += reason is None
    over = {o.name for o in found}
    lines += [f"  stale  {name}: allowed but within the limits now; remove it from ALLOWED"
              for name in allowed if name not in over]
    lines.append(f"{len(found)} over the limits ({MODULE_LINES} lines a module, {CLASS_LINES} a class, "
                 f"{FUNCTION_LINES} a function), {refused} not allowed")
    return lines, 1 if refused else 0


def main(argv: Sequence[str], allowed: Mapping[str, str] = ALLOWED) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python scripts/code_sizes.py PACKAGE_FOLDER", file=sys.stderr)
        return 2
    lines, status = report(find_oversize(Path(argv[0])), allowed)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
