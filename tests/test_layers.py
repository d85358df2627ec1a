"""The layers of the code. site_config/ wires the apps into a site and imports them (the
URLs, the admin header's counts, the metrics), so no app imports site_config/, not even
inside a function: the apps would then import each other through it. common/ lies under
both apps and imports neither them nor site_config/."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["contact", "users"]
# The outbox and the worker's threads sit in site_config/, and both apps build on them.
SHARED_FROM_SITE_CONFIG = {"site_config.outbox", "site_config.task_queue"}


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


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def offending(packages: list[str], forbidden: list[str], allowed: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for package in packages
        for path in sources(package)
        for line, name in imported(path)
        if any(within(name, top) for top in forbidden)
        and not any(within(name, allowed_module) for allowed_module in allowed)
    ]


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_the_sites_wiring(app: str) -> None:
    assert offending([app], ["site_config"], SHARED_FROM_SITE_CONFIG) == []


def test_common_imports_no_app_and_no_wiring() -> None:
    assert sources("common")
    assert offending(["common"], ["site_config", *APPS], set()) == []


def test_the_check_reads_imports_inside_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A late import is an import all the same.
    package = tmp_path / "app"
    package.mkdir()
    (package / "late.py").write_text("def f():\n    from site_config import admin\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert offending(["app"], ["site_config"], set()) == ["app/late.py:2 imports site_config.admin"]
