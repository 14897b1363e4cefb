"""Find a workspace and run load → validate → build → check over all its files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.definitions import check
from engine.definitions.build import build_process
from engine.definitions.calendar import read_calendar
from engine.definitions.connectors import check_invoked, read_connectors
from engine.definitions.files import (
    CALENDAR,
    CONNECTORS,
    DIFF_EXAMPLES,
    LIFECYCLES,
    PROCESSES,
    ROLES,
    RULES,
    SCENARIOS,
    TEMPLATES,
    definition_files,
    reference_workspace,
    template_files,
)
from engine.definitions.lifecycles import Lifecycles, read_lifecycles
from engine.definitions.load import load_bytes, load_file
from engine.definitions.model import OptionScript, Process, Workspace
from engine.definitions.options import build_script
from engine.definitions.reads import template_reads
from engine.definitions.recipients import check_role_recipients
from engine.definitions.roles import check_actors, read_roles
from engine.definitions.schedule import SCHEDULE, read_schedules
from engine.definitions.templates import check_templates
from engine.definitions.validate import validate
from engine.diagnostics import CODES, Diagnostic, Location, diagnostic, sort_unique
from engine.errors import UsageError


def load_workspace(root: Path, *, render_templates: bool = False) -> Workspace:
    """Load, validate and check every process and option script under `root`; with `render_templates`
    (`cardflow validate`) also render every email template with a sample email of its kind."""
    digest = hashlib.sha256()
    lifecycles, found, read = read_lifecycles(root)
    for shown, text in read:
        digest.update(shown.encode() + b"\0" + text + b"\0")
    scripts, processes, unbuilt = _definitions(root, lifecycles, digest, found)
    if not processes and not found:
        found.append(diagnostic(Location(f"{PROCESSES}/"), "E290", folder=str(root / PROCESSES)))
    found += [d for d in check.run_checks(processes, scripts) if not _follows_from_unbuilt(d, unbuilt, processes)]
    found += check_templates(root, processes, render=render_templates)
    for path in template_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    roles, problems, text = read_roles(root)
    if text:  # who may fire what is part of an outcome (a workspace without the file keeps its fingerprint)
        digest.update(ROLES.encode() + b"\0" + text + b"\0")
    found += problems + list(check_actors(processes, roles)) + list(check_role_recipients(processes, roles))
    schedules, problems = _schedules(root, processes)
    found += problems
    connectors, problems = read_connectors(root)
    found += problems + list(check_invoked(processes.values(), connectors))
    calendar, problems, text = read_calendar(root)
    if text:  # which days count as working days is part of when a timer fires
        digest.update(CALENDAR.encode() + b"\0" + text + b"\0")
    found += problems
    fingerprint = digest.hexdigest()[:16]
    reads = template_reads(root, processes.values())
    return Workspace(
        root, processes, scripts, tuple(sort_unique(found)), fingerprint, schedules, roles, connectors, reads, calendar
    )


def _definitions(
    root: Path, lifecycles: Lifecycles, digest: hashlib._Hash, found: list[Diagnostic]
) -> tuple[dict[str, OptionScript], dict[str, Process], dict[str, set[str]]]:
    """The option scripts and processes of `root` that can be built (a process with its lifecycle merged
    in), and the names of those that cannot; their problems are added to `found`, their bytes to `digest`."""
    scripts: dict[str, OptionScript] = {}
    processes: dict[str, Process] = {}
    unbuilt: dict[str, set[str]] = {"option_script": set(), "process": set()}
    for kind, path in definition_files(root):
        shown, data = f"{path.parent.name}/{path.name}", path.read_bytes()
        digest.update(shown.encode() + b"\0" + data + b"\0")
        document, problems = load_bytes(data, shown)
        if document is not None and kind == "process":
            document, merging = lifecycles.merged(document)
            problems += merging
        found += problems
        if document is None:
            unbuilt[kind].add(path.stem)
            continue
        shape, buildable = validate(document, kind)
        found += shape
        if not buildable or problems:
            unbuilt[kind].add(_declared_name(document.data, kind, path.stem))
            continue
        if kind == "option_script":
            script = build_script(document)
            scripts.setdefault(script.script, script)
        else:
            process = build_process(document)
            processes.setdefault(process.symbolic_name, process)
    return scripts, processes, unbuilt


def _schedules(root: Path, processes: dict[str, Process]) -> tuple[dict[str, str], list[Diagnostic]]:
    """The scheduled jobs of `root`/schedule.yaml (none without the file), with its diagnostics.
    Not part of the fingerprint: when a job runs changes no card's outcome."""
    path = root / SCHEDULE
    if not path.is_file():
        return {}, []
    document, found = load_file(path, SCHEDULE)
    if document is None:
        return {}, found
    shape, buildable = validate(document, "schedule")
    schedules, problems = read_schedules(document, processes)
    return (schedules if buildable and not problems else {}), found + shape + problems


def _declared_name(data: object, kind: str, stem: str) -> str:
    """The name a file that could not be built declares (its symbolic name or script), else its stem."""
    key = "script" if kind == "option_script" else "symbolic_name"
    name = data.get(key) if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else stem


def _follows_from_unbuilt(found: Diagnostic, unbuilt: dict[str, set[str]], processes: dict[str, Process]) -> bool:
    """Whether a diagnostic of meaning only follows from a file that could not be built (and was
    reported already): a reference to its name, an option of its script, a trigger it would fire."""
    scripts, broken = unbuilt["option_script"], unbuilt["process"]
    if found.code == "E212":
        return any(found.message.startswith(CODES["E212"].format(name=name, hint="")) for name in scripts)
    if found.code == "E209":
        return any(found.message.startswith(CODES["E209"].format(name=name, hint="")) for name in broken)
    if found.code == "E214":
        return bool(broken)  # the process that fires it may be the one that could not be built
    owners = [p for p in processes.values() if found.location.file in _files_of(p)]
    if found.code == "E302":
        return any(scripts & set(process.options) for process in owners)
    return found.code in ("E203", "E210") and any(broken & set(process.acts_on) for process in owners)


def _files_of(process: Process) -> tuple[str, ...]:
    """The definition files a process is written in: its own, and its lifecycle's."""
    own = process.document.file
    return (own, f"{LIFECYCLES}/{process.lifecycle}.yaml") if process.lifecycle else (own,)


def init_workspace(dest: Path, source: Path | None = None) -> list[Path]:
    """Copy the reference workspace (processes, lifecycles, rules, templates, the scenario suite and the diff example) into `dest`
    for a site to edit."""
    import shutil

    source = source or reference_workspace()
    if (dest / PROCESSES).exists():
        raise UsageError(f"{dest} already holds a workspace ({PROCESSES}/ exists); nothing copied")
    copied = []
    for folder in (PROCESSES, LIFECYCLES, RULES, TEMPLATES, SCENARIOS, DIFF_EXAMPLES):
        if (source / folder).is_dir():
            shutil.copytree(source / folder, dest / folder)
            copied.append(dest / folder)
    for name in (SCHEDULE, ROLES, CONNECTORS, CALENDAR):
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
            copied.append(dest / name)
    return copied
