"""The layers of the code, lowest first: common/ (the building blocks), outbox/ (every
email the site sends), users/, contact/, and site_config/, which wires them into a site.
Each package imports only the ones below it, not even inside a function, so no two
import each other, directly or around a circle."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["common", "outbox", "users", "contact", "site_config"]


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Each module the file imports, at any depth, with its line: `from a import b` names
    `a.b`, since b may be a module of a."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def upward(layers: list[str]) -> list[str]:
    """Every import of a package at its own level or above, from another package."""
    found = []
    for level, package in enumerate(layers):
        above = [other for other in layers[level:] if other != package]
        for path in sources(package):
            for line, name in imported(path):
                if name.partition(".")[0] in above:
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


def test_every_layer_imports_only_the_ones_below_it() -> None:
    assert all(sources(package) for package in LAYERS)
    assert upward(LAYERS) == []


def test_the_walk_finds_an_import_upward_inside_a_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A late import is an import all the same.
    for package in ("low", "high"):
        (tmp_path / package).mkdir()
    (tmp_path / "low" / "late.py").write_text("def f():\n    from high import admin\n")
    (tmp_path / "high" / "plain.py").write_text("from low import late\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert upward(["low", "high"]) == ["low/late.py:2 imports high.admin"]
