"""Find a workspace and run load → validate → build → check over all its files."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.definitions import check
from engine.definitions.load import load_file
from engine.definitions.model import OptionScript, Process, build_process, build_script
from engine.definitions.schedule import SCHEDULE, read_schedules
from engine.definitions.templates import check_templates
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, did_you_mean, sort_unique
from engine.errors import UsageError, WorkspaceInvalid

PROCESSES, RULES, TEMPLATES = "processes", "rules", "templates/email"
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Workspace:
    """Every process and option script of a workspace, with all diagnostics found in them."""

    root: Path
    processes: dict[str, Process]
    scripts: dict[str, OptionScript]
    diagnostics: tuple[Diagnostic, ...]
    fingerprint: str
    #: the cron expression of each scheduled job (schedule.yaml), for the workers
    schedules: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(found.severity == "error" for found in self.diagnostics)

    def process(self, name: str) -> Process:
        """The process with symbolic name `name`, or a UsageError that suggests a close name."""
        if name not in self.processes:
            raise UsageError(f"unknown process '{name}'{did_you_mean(name, self.processes)}")
        return self.processes[name]

    def require_valid(self) -> Workspace:
        """This workspace, or WorkspaceInvalid when it has errors (run `cardflow validate`)."""
        if not self.ok:
            count = sum(1 for found in self.diagnostics if found.severity == "error")
            raise WorkspaceInvalid(f"the workspace {self.root} has {count} error(s); run `cardflow validate`")
        return self


def reference_workspace() -> Path:
    """The workspace shipped with cardflow: inside the wheel, or the repository in a checkout."""
    shipped = _PACKAGE / "reference"
    return shipped if (shipped / PROCESSES).is_dir() else _PACKAGE.parent


def locate(explicit: str | None = None) -> Path:
    """--workspace, else $CARDFLOW_WORKSPACE, else the current directory if it holds processes/, else the reference."""
    chosen = explicit or os.environ.get("CARDFLOW_WORKSPACE")
    if chosen:
        root = Path(chosen)
        if not (root / PROCESSES).is_dir():
            raise UsageError(f"{chosen} is not a workspace (no {PROCESSES}/ folder in it)")
        return root
    here = Path.cwd()
    return here if (here / PROCESSES).is_dir() else reference_workspace()


def load_workspace(root: Path) -> Workspace:
    """Load, validate and check every process and option script under `root`."""
    found: list[Diagnostic] = []
    digest = hashlib.sha256()
    scripts: dict[str, OptionScript] = {}
    processes: dict[str, Process] = {}
    for folder, kind in ((RULES, "option_script"), (PROCESSES, "process")):
        for path in sorted((root / folder).glob("*.yaml")):
            shown = f"{folder}/{path.name}"
            digest.update(shown.encode() + b"\0" + path.read_bytes() + b"\0")
            document, problems = load_file(path, shown)
            found += problems
            if document is None:
                continue
            shape, buildable = validate(document, kind)
            found += shape
            if not buildable or problems:
                continue
            if kind == "option_script":
                script = build_script(document)
                scripts.setdefault(script.script, script)
            else:
                process = build_process(document)
                processes.setdefault(process.symbolic_name, process)
    found += check.run_checks(processes, scripts)
    found += check_templates(root, processes)
    templates = root / TEMPLATES
    for path in sorted(templates.rglob("*")) if templates.is_dir() else ():
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    schedules, problems = _schedules(root)
    found += problems
    return Workspace(root, processes, scripts, tuple(sort_unique(found)), digest.hexdigest()[:16], schedules)


def _schedules(root: Path) -> tuple[dict[str, str], list[Diagnostic]]:
    """The scheduled jobs of `root`/schedule.yaml (none without the file), with its diagnostics.
    Not part of the fingerprint: when a job runs changes no card's outcome."""
    path = root / SCHEDULE
    if not path.is_file():
        return {}, []
    document, found = load_file(path, SCHEDULE)
    if document is None:
        return {}, found
    shape, buildable = validate(document, "schedule")
    schedules, problems = read_schedules(document)
    return (schedules if buildable and not problems else {}), found + shape + problems


def init_workspace(dest: Path, source: Path | None = None) -> list[Path]:
    """Copy the reference workspace (processes, rules, templates) into `dest` for a site to edit."""
    import shutil

    source = source or reference_workspace()
    if (dest / PROCESSES).exists():
        raise UsageError(f"{dest} already holds a workspace ({PROCESSES}/ exists); nothing copied")
    copied = []
    for folder in (PROCESSES, RULES, TEMPLATES):
        if (source / folder).is_dir():
            shutil.copytree(source / folder, dest / folder)
            copied.append(dest / folder)
    if (source / SCHEDULE).is_file():
        shutil.copy2(source / SCHEDULE, dest / SCHEDULE)
        copied.append(dest / SCHEDULE)
    return copied
