"""Where a workspace's files are: its folders, how a command finds the workspace, and every file
that loading it reads (what the workspace cache keys on)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.definitions.schedule import SCHEDULE
from engine.errors import UsageError

PROCESSES, RULES, TEMPLATES = "processes", "rules", "templates/email"
LIFECYCLES = "lifecycles"  # read by engine.definitions.lifecycles
SCENARIOS = "tests/scenarios"
DIFF_EXAMPLES = "tests/diff"  # the scenario the README's `cardflow diff` example compares
ROLES = "roles.yaml"  # read by engine.definitions.roles
CONNECTORS = "connectors.yaml"  # read by engine.definitions.connectors
CALENDAR = "calendar.yaml"  # read by engine.definitions.calendar
RELEASE_FILE = "release.yaml"  # a release's own: where it moves the cards it would strand (engine.definitions.release_moves)
_PACKAGE = Path(__file__).resolve().parents[1]


def reference_workspace() -> Path:
    """The workspace shipped with cardflow: inside the wheel, or the repository in a checkout."""
    shipped = _PACKAGE / "reference"
    return shipped if (shipped / PROCESSES).is_dir() else _PACKAGE.parent


def locate(explicit: str | None = None) -> Path:
    """--workspace, else $CARDFLOW_WORKSPACE, else the nearest folder at or above the current one
    that holds processes/ (as git finds its repository), else the reference."""
    chosen = explicit or os.environ.get("CARDFLOW_WORKSPACE")
    if chosen:
        root = Path(chosen)
        if not (root / PROCESSES).is_dir():
            raise UsageError(f"{chosen} is not a workspace (no {PROCESSES}/ folder in it)")
        return root
    here = Path.cwd()
    return next((folder for folder in (here, *here.parents) if (folder / PROCESSES).is_dir()), reference_workspace())


def definition_files(root: Path) -> list[tuple[str, Path]]:
    """The option scripts, then the processes, each as (kind, path), in name order."""
    kinds = ((RULES, "option_script"), (PROCESSES, "process"))
    return [(kind, path) for folder, kind in kinds for path in sorted((root / folder).glob("*.yaml"))]


def template_files(root: Path) -> list[Path]:
    """Every file under templates/email/, in path order."""
    folder = root / TEMPLATES
    return [path for path in sorted(folder.rglob("*")) if path.is_file()] if folder.is_dir() else []


def input_files(root: Path) -> list[Path]:
    """Every file that loading the workspace at `root` reads."""
    extra = [root / name for name in (SCHEDULE, ROLES, CONNECTORS, CALENDAR) if (root / name).is_file()]
    lifecycles = sorted((root / LIFECYCLES).glob("*.yaml"))
    return [path for _, path in definition_files(root)] + lifecycles + template_files(root) + extra
