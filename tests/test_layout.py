"""The house keeps its shape: imports run one way, top down, no module grows past 400 lines, and
SQL is built in engine/store/ alone."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each folder of engine/ and its floor: a module may import its own folder and any lower floor,
# never a higher floor nor another folder on its own floor. The ground is engine/ itself.
FLOORS = {
    "testing": 5,
    "web": 5,
    "report": 4,
    "batch": 3,
    "work": 3,
    "outbound": 2,
    "releases": 2,
    "definitions": 1,
    "effects": 1,
    "store": 1,
    "": 0,
}
LONGEST = 400
#: Peer folders a folder may import although they share its floor: the workers' jobs (work/) run
#: the batch runtime's chunks and syncs; batch/ never imports work/.
#: The effect kinds (effects/) are built and checked by the definitions and, when they fire, write
#: through the store: definitions/ imports effects/, whose kinds import definitions/ and store/ only
#: inside functions or for types (tests below keep module-level imports out of both ways).
PEERS = {"work": {"batch"}, "definitions": {"effects"}, "effects": {"definitions", "store"}}


def relative(path: Path) -> Path:
    """`path` from the project's root; a probe written elsewhere (never among the code, where other
    tests' digests of the code would see it), from the folder that holds its `engine/`."""
    if path.is_relative_to(ROOT):
        return path.relative_to(ROOT)
    return path.relative_to(next(parent for parent in path.parents if parent.name == "engine").parent)


def module_name(path: Path) -> str:
    parts = list(relative(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_modules() -> list[Path]:
    return sorted((ROOT / "engine").rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Every engine module `path` imports, at module level or inside a function, with its line."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith("engine"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if base == "engine" or base.startswith("engine."):
                yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def folder(module: str) -> str:
    """The engine folder a module lives in ('' for the ground floor); `engine.store.db` -> 'store'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (ROOT / "engine" / parts[1]).is_dir() else ""


def wrong_way(importer: str, target: str) -> bool:
    """True when `importer` may not import `target`: a higher floor, or a peer folder on its own floor."""
    mine, theirs = folder(importer), folder(target)
    return mine != theirs and FLOORS[theirs] >= FLOORS[mine] and theirs not in PEERS.get(mine, set())


def backward_imports(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        importer = module_name(path)
        for line, target in imported(path):
            if folder(target) not in FLOORS:
                found.append(f"{relative(path)}:{line}: {target} is in no known folder")
            elif wrong_way(importer, target):
                found.append(f"{relative(path)}:{line}: {importer} imports {target} (up or sideways)")
    return found


def test_every_engine_folder_has_a_floor() -> None:
    """Each folder of engine/ is on a floor of the house, so the direction test covers it."""
    folders = {path.parent.name for path in engine_modules() if path.parent != ROOT / "engine"}
    assert folders <= set(FLOORS)


def test_every_engine_folder_says_its_role() -> None:
    """Each folder's __init__.py has a docstring naming its role and what it may import."""
    for package in sorted((ROOT / "engine").glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(package.read_text(encoding="utf-8")))
        assert docstring and "May import" in docstring, package


def test_imports_run_one_way_top_down() -> None:
    """No engine module imports a higher floor or a peer folder on its own floor."""
    assert backward_imports(engine_modules()) == []


def test_the_direction_test_sees_an_import_that_runs_back_up(tmp_path: Path) -> None:
    """A store module that imports the batch runtime is reported, with its line."""
    bad = tmp_path / "engine" / "store" / "_probe_for_test.py"
    bad.parent.mkdir(parents=True)
    bad.write_text('"""probe"""\n\n\ndef f() -> None:\n    from engine.batch.run import run_batch\n', encoding="utf-8")
    assert backward_imports([bad]) == [
        "engine/store/_probe_for_test.py:5: engine.store._probe_for_test imports engine.batch.run.run_batch (up or sideways)"
    ]


def test_batch_may_not_import_the_workers_jobs() -> None:
    """work/ may import its peer batch/, but not the other way round."""
    assert wrong_way("engine.batch.run", "engine.work.jobs") and not wrong_way("engine.work.jobs", "engine.batch.run")


def test_no_import_cycles_between_modules() -> None:
    """No two engine modules import each other, directly or round a longer loop."""
    modules = {module_name(path): path for path in engine_modules()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, target in imported(path):
            owner = target if target in modules else target.rpartition(".")[0]
            if owner in modules and owner != name and modules[owner].name != "__init__.py":
                graph[name].add(owner)
    assert _cycle(graph) is None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (loop := visit(node)):
            return loop
    return None


@pytest.mark.parametrize(
    "path",
    [*engine_modules(), ROOT / "cli.py", *sorted((ROOT / "commands").glob("*.py"))],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_no_module_is_longer_than_400_lines(path: Path) -> None:
    """Modules stay small: split by responsibility before one passes 400 lines."""
    assert len(path.read_text(encoding="utf-8").splitlines()) <= LONGEST


def test_no_test_reads_the_store_with_sqlite3() -> None:
    """Tests read the store under test through SQLAlchemy (conftest's `stored`), so they read PostgreSQL too."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "sqlite3" for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# --- SQL stays in engine/store/ ------------------------------------------------------------------------------------------

#: What builds SQL: SQLAlchemy's query builders and text; the store's tables are the module-level Tables of tables.py.
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "func", "or_", "and_", "not_", "exists", "literal_column"}
SQL_TEXT = re.compile(
    r"\b(SELECT\b[^;]*\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)|ALTER TABLE|DROP TABLE)\b"
)


def store_tables() -> set[str]:
    """The names of the store's tables, as modules reach them (`db.cards`)."""
    tree = ast.parse((ROOT / "engine" / "store" / "tables.py").read_text(encoding="utf-8"))
    assigned = (node for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call))
    return {target.id for node in assigned for target in node.targets if isinstance(target, ast.Name)} - {"metadata"}


def sql_kinds(path: Path, tables: set[str]) -> set[str]:
    """How a module builds SQL: the builders it imports from sqlalchemy, the tables it reads
    (`db.cards`, or imported from the store's table modules) and SQL written as text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            builds = (node.module or "").startswith(("sqlalchemy.sql", "sqlalchemy.dialects"))
            found |= {alias.name for alias in node.names if alias.name in SQL_BUILDERS or builds}
        elif isinstance(node, ast.ImportFrom) and node.module in ("engine.store.db", "engine.store.tables"):
            found |= {f"db.{alias.name}" for alias in node.names if alias.name in tables}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("db", "tables"):
            found |= {f"db.{node.attr}"} if node.attr in tables else set()
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            found.add("SQL text")
    return found


def sql_outside_the_store(paths: list[Path]) -> dict[str, set[str]]:
    tables = store_tables()
    found = {str(relative(path)): sql_kinds(path, tables) for path in paths}
    return {path: kinds for path, kinds in found.items() if kinds}


def outside_the_store() -> list[Path]:
    modules = [path for path in engine_modules() if path.parent != ROOT / "engine" / "store"]
    return [*modules, ROOT / "cli.py", *sorted((ROOT / "commands").glob("*.py"))]


def test_sql_is_built_in_the_store_alone() -> None:
    """Outside engine/store/ no module imports a query builder, reads a table or writes SQL."""
    assert {path: sorted(kinds) for path, kinds in sql_outside_the_store(outside_the_store()).items()} == {}


def test_the_console_and_the_commands_stay_off_the_store_tables() -> None:
    """engine/web/, commands/ and cli.py build no SQL and name no table: they call engine functions."""
    shells = [path for path in outside_the_store() if path.parts[-2] in ("web", "commands") or path.name == "cli.py"]
    assert sql_outside_the_store(shells) == {}


def test_the_sql_test_sees_a_query_built_outside_the_store(tmp_path: Path) -> None:
    """A module that selects from `db.cards` and runs SQL text is reported with each kind; type imports are not."""
    probe = tmp_path / "engine" / "report" / "_probe_for_sql.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        '"""probe"""\n\nfrom sqlalchemy import Engine, select\n\nfrom engine.store import db\n\n'
        "Q = select(db.cards)\nRAW = 'SELECT id FROM cards'\n\n\ndef f(engine: Engine) -> None:\n    db.reading(engine)\n",
        encoding="utf-8",
    )
    assert sql_outside_the_store([probe]) == {"engine/report/_probe_for_sql.py": {"select", "db.cards", "SQL text"}}
