"""The layer order as data: which package may import which, checked on every module's imports.

    core -> generator -> measure -> reports, probe -> tune -> pipeline -> cli, scripts

A package imports only packages below it (reports and probe side by side, cli and scripts side by
side: neither imports the other). Every import counts, also one inside a function or under
TYPE_CHECKING. tests/ is free. A new upward or sideways edge fails here; so does an exception
that is no longer needed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom up; each package with the packages it may import.
ORDER = ("core", "generator", "measure", "reports", "probe", "tune", "pipeline", "cli", "scripts")
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "generator": frozenset({"core"}),
    "measure": frozenset({"core", "generator"}),
    "reports": frozenset({"core", "generator", "measure"}),
    "probe": frozenset({"core", "generator", "measure"}),
    "tune": frozenset({"core", "generator", "measure", "reports", "probe"}),
    "pipeline": frozenset({"core", "generator", "measure", "reports", "probe", "tune"}),
    "cli": frozenset({"core", "generator", "measure", "reports", "probe", "tune", "pipeline"}),
    "scripts": frozenset({"core", "generator", "measure", "reports", "probe", "tune", "pipeline"}),
}
# (importing module, imported package): known edges against the order, each with why it is still there.
EXCEPTIONS: dict[tuple[str, str], str] = {}   # (module, package) -> why; none today


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the layered packages (the launcher is cli's)."""
    found = {"cli.__launcher__": ROOT / "tlsfit"}
    for package in ORDER:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
    return found


def edges() -> set[tuple[str, str]]:
    """(importing module, imported package) for every import of another layered package."""
    out = set()
    for name, path in modules().items():
        own = name.split(".")[0]
        for target in imports(name, path):
            top = target.split(".")[0]
            if top in MAY_IMPORT and top != own:
                out.add((name, top))
    return out


def test_the_table_covers_every_package_and_is_acyclic() -> None:
    assert set(MAY_IMPORT) == set(ORDER)
    for package, allowed in MAY_IMPORT.items():
        assert allowed <= set(ORDER[:ORDER.index(package)]), f"{package} may import a package above it"
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert on_disk <= set(ORDER), f"packages without a layer: {sorted(on_disk - set(ORDER))}"


def test_no_upward_or_sideways_import() -> None:
    bad = sorted((module, target) for module, target in edges()
                 if target not in MAY_IMPORT[module.split(".")[0]] and (module, target) not in EXCEPTIONS)
    assert not bad, "imports against the layer order (core -> generator -> measure -> reports, probe -> tune " \
                    "-> pipeline -> cli, scripts): " + ", ".join(f"{m} imports {t}" for m, t in bad)


def test_every_exception_is_still_needed() -> None:
    stale = sorted(set(EXCEPTIONS) - edges())
    assert not stale, f"remove these from EXCEPTIONS, the imports are gone: {stale}"


def test_nothing_outside_cli_imports_cli() -> None:
    offenders = sorted(module for module, target in edges() if target == "cli")
    assert not offenders, f"only cli/ may import cli: {offenders}"


def test_the_scan_sees_real_imports() -> None:
    """The scanner itself: known edges are found (a broken scan would pass everything above)."""
    found = edges()
    assert ("pipeline.stages", "measure") in found
    assert ("cli.main", "pipeline") in found          # an import inside a function
    assert ("cli.__launcher__", "cli") not in found   # own package: not an edge
    assert imports("pipeline", ROOT / "pipeline" / "__init__.py") >= {"pipeline.stages", "pipeline.probe_flow"}


@pytest.mark.parametrize("name", ["probe", "tune", "measure"])
def test_pipeline_is_the_way_in(name: str) -> None:
    import pipeline
    assert callable(getattr(pipeline, name))
    request = {"probe": "ProbeRequest", "tune": "TuneRequest", "measure": "MeasureRequest"}[name]
    assert isinstance(getattr(pipeline, request), type)
