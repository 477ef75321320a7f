"""Meta-tests: the notice catalogue stays honest, the docs stay generated, the stages stay apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from transitmap import notices as N

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "transitmap"


def test_codes_are_unique_snake_case_and_derived_from_the_class_name():
    codes = [c.code() for c in N.catalogue()]
    assert len(codes) == len(set(codes))
    for cls in N.catalogue():
        assert cls.__name__.endswith("Notice")
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", cls.code())


def test_every_notice_is_documented_with_a_severity():
    for cls in N.catalogue():
        assert cls.__doc__ and len(cls.__doc__.split()) >= 5, cls
        assert isinstance(cls.severity, N.Severity)


def test_fields_come_from_the_vocabulary_and_carry_units():
    for cls in N.catalogue():
        for f in N.notice_fields(cls):
            assert f in N.FIELD_DOCS, (cls.code(), f)
    for name in N.FIELD_DOCS:
        if any(w in name for w in ("distance", "speed", "gap", "duration", "length", "accuracy", "size")):
            assert re.search(r"_(m|s|kph|bytes)$", name), name


def test_docs_page_is_generated_from_the_code():
    assert (ROOT / "docs" / "notices.md").read_text(encoding="utf-8") == N.catalogue_markdown(), (
        "regenerate: transitmap notices --format markdown > docs/notices.md")


def test_samples_are_capped_but_counts_are_not():
    box = N.NoticeContainer(max_per_code=3)
    for i in range(10):
        box.add(N.EmptyFileNotice(file=f"f{9 - i}.json"))
    [entry] = box.to_list()
    assert entry["total_notices"] == 10
    assert [n["file"] for n in entry["sample_notices"]] == ["f0.json", "f1.json", "f2.json"]


# ------------------------------------------------------------------------------------ architecture

STAGES = {"read", "validate", "clean", "names", "match", "stops", "timing", "fares", "gtfs", "stats", "report"}


def _imports(path: Path) -> set[str]:
    """The modules a module of the package imports (of a stage that is a package, ``read/``: what all its
    modules import from outside it)."""
    if path.suffix == ".py" and not path.exists() and path.with_suffix("").is_dir():
        return set().union(*(_imports(p) for p in path.with_suffix("").glob("*.py")))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = path.parent != PACKAGE  # a module of a subpackage: ``..`` is the package, ``.`` its own modules
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and inner:
            if node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 2:
                found.update(a.name for a in node.names)
            elif node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(a.name for a in node.names)
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_stage_modules_do_not_import_each_other():
    for stage in STAGES:
        assert not (_imports(PACKAGE / f"{stage}.py") & (STAGES - {stage})), stage


def test_the_network_is_assembled_from_the_containers_into_gtfs_rows_alone():
    assert _imports(PACKAGE / "assemble.py") - {"__future__", "datetime", "hashlib", "re", "collections", "dataclasses",
                                                "typing",
                                                "numpy", "pandas"} <= {"notices", "geo", "gtfs", "model", "compare",
                                                                       "config"}  # the last two: type hints only


def test_no_module_uses_another_modules_private_names():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        private = [f"{node.module}.{a.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and node.level >= 1 for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        assert not private, (path.name, private)


def test_only_the_gtfs_and_stats_modules_use_gtfs_kit():
    users = {path.name for path in PACKAGE.rglob("*.py") if "gtfs_kit" in _imports(path)}
    assert users <= {"gtfs.py", "stats.py"}, users


def test_only_the_cli_imports_click_and_the_library_does_not_print():
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "cli":
            assert "click" not in _imports(path), path.name
            tree = ast.parse(path.read_text(encoding="utf-8"))
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
            assert not calls, path.name


def test_each_input_format_is_one_module_with_its_reader_in_the_registry():
    """Adding a format is adding a module of ``transitmap/read/`` with its ``READER`` (listed in
    ``files.READERS``), its fixtures and its tests: nothing else in the package names a format."""
    import importlib

    from transitmap.read import READERS, Reader

    shared = {"__init__", "base", "files", "traces", "notes", "dates"}
    formats = sorted(p.stem for p in (PACKAGE / "read").glob("*.py") if p.stem not in shared)
    registered = {}
    for name in formats:
        module = importlib.import_module(f"transitmap.read.{name}")
        readers = [v for v in vars(module).values() if isinstance(v, Reader)]
        assert readers, name
        registered.update({r.name: name for r in readers})
        assert all(r in READERS for r in readers), name
    assert len(READERS) == len(registered)
    assert {"json", "json-lines", "geojson", "gpx", "kml", "csv"} <= set(registered)


def test_schema_shipped_in_the_package_is_the_collector_schema():
    shipped = (PACKAGE / "schemas" / "trace-v1.schema.json").read_bytes()
    assert shipped == (ROOT / "collector_schema" / "trace-v1.schema.json").read_bytes()


def test_the_package_imports_in_one_direction_and_its_modules_stay_small():
    """No import circle between the modules of the package (type hints apart), the command line at most
    600 lines and no module over 800 but the notice catalogue."""
    modules = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {d.name: d.with_suffix(".py") for d in PACKAGE.iterdir() if d.is_dir() and (d / "__init__.py").exists()}

    def runtime_imports(path: Path) -> set[str]:
        if not path.exists():
            return set().union(*(runtime_imports(p) for p in path.with_suffix("").glob("*.py")))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hinted = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                  and ast.unparse(node.test) == "TYPE_CHECKING" for n in ast.walk(node)}
        inner = path.parent != PACKAGE
        return {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) not in hinted
                and n.module and n.level == (2 if inner else 1)} & set(modules)

    graph = {m: runtime_imports(p) - {m} for m, p in modules.items()}
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for n in sorted(graph[m]):
            assert seen.get(n) != 1, " -> ".join([*path, m, n])
            if n not in seen:
                visit(n, [*path, m])
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [])
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert sizes["cli/__init__.py"] <= 600
    assert {name: n for name, n in sizes.items() if n > 800} == {"notices.py": sizes["notices.py"]}
