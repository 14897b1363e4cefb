"""Email templates: found per locale, loaded once, rendered in Jinja2's sandbox, checked at validate time.

A template NAME is three files in `templates/email/` (or `templates/email/<locale>/`):
`NAME.subject.txt`, `NAME.text.txt` and `NAME.html` (autoescaped). Rendering uses `StrictUndefined`,
so a missing variable is an error, never an empty string; the sandbox (`sandbox`) refuses Python
internals and changes to the data, and bounds time and size. `validate` renders every file with
a sample email of its kind, so what would fail in a batch fails there, at its line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes, select_autoescape
from jinja2.bccache import BytecodeCache, FileSystemBytecodeCache

from engine import effects
from engine.definitions.email_samples import sample_context
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process
from engine.definitions.sandbox import BoundedSandbox, TemplateProblem, flat_globals, render_bounded
from engine.diagnostics import Diagnostic, Location, diagnostic, did_you_mean
from engine.effects.fire import fires_by_trigger
from engine.errors import CardflowError
from engine.records import EMAIL_CONTEXT, EMAIL_PERSONS, readable_fields

PARTS = {"subject": "subject.txt", "text": "text.txt", "html": "html"}
#: The variables each kind of recipient's email context provides (templates may use only these).
CONTEXT_VARIABLES: dict[str, frozenset[str]] = {kind: frozenset(names) for kind, names in EMAIL_CONTEXT.items()}


#: A person (recipient, holder, requester) always has these; the user's other attributes (department,
#: ...) come with them, so a template may read any name on a person: the store, not the workspace,
#: knows which users have it (an email to a user without it fails to render, with the file and line).
PERSON_FIELDS = readable_fields("user", "templates")
PERSONS = EMAIL_PERSONS
#: The attributes of the other records in an email context (a template may read only these).
CONTEXT_ATTRIBUTES: dict[str, frozenset[str]] = {
    name: readable_fields(name, "templates") for name in ("card", "process", "batch")
}


#: How long `validate` lets one template render with its sample email (a batch allows RENDER_SECONDS).
VALIDATE_SECONDS = 0.5


class RenderError(CardflowError):
    """An email could not be rendered (undefined variable, refused by the sandbox, missing file)."""

    exit_code = 1
    code = "render"


@dataclass(frozen=True)
class Rendered:
    """The three parts of a rendered email."""

    subject: str
    text: str
    html: str


class Templates:
    """The email templates of one workspace; each file is compiled once and reused."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environment = BoundedSandbox(
            loader=FileSystemLoader(str(folder)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            keep_trailing_newline=True,
            auto_reload=False,
            bytecode_cache=_bytecode_cache(),
        )
        self.digest: str | None = None
        self._compiled: dict[tuple[str, str | None], tuple[tuple[Template, ...], dict[str, Any]]] = {}

    def refresh(self) -> None:
        """Forget the compiled templates if any file of the folder changed since they were compiled."""
        files = sorted(self.folder.rglob("*")) if self.folder.is_dir() else []
        digest = hashlib.sha256(b"".join(bytes(p) + b"\0" + p.read_bytes() for p in files if p.is_file())).hexdigest()
        if digest != self.digest and self.environment.cache is not None:
            self.environment.cache.clear()
            self._compiled.clear()
        self.digest = digest

    def file_name(self, name: str, part: str, locale: str | None = None) -> str:
        """The loader name of a part, in the locale's folder when it has the template, else the default."""
        base = f"{name}.{PARTS[part]}"
        if locale and re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z]{2})?", locale) and (self.folder / locale / base).is_file():
            return f"{locale}/{base}"
        return base

    def render(self, name: str, context: dict[str, Any], locale: str | None = None) -> Rendered:
        """Render every part of template `name`, from one context and within the bounds; RenderError with
        the template's file:line and reason on failure."""
        try:
            parts, globals_ = self._parts(name, locale)
            subject, text, html = render_bounded(self.environment, parts, context, globals_=globals_)
        except TemplateProblem as problem:
            where = f" at {self.shown(problem.file)}:{problem.line}" if problem.file and problem.line else ""
            raise RenderError(f"cannot render email template '{name}'{where}: {problem.message}") from None
        except (TemplateError, ValueError, RecursionError) as error:
            line = f":{error.lineno}" if isinstance(error, TemplateSyntaxError) and error.lineno else ""
            file = f" at {self.shown(error.filename)}{line}" if isinstance(error, TemplateSyntaxError) and error.filename else ""
            raise RenderError(f"cannot render email template '{name}'{file}: {type(error).__name__}: {error}") from None
        return Rendered(one_line(subject), text, html)

    def _parts(self, name: str, locale: str | None) -> tuple[tuple[Template, ...], dict[str, Any]]:
        """The compiled subject, text and HTML templates of `name` in `locale`, with their globals, looked up once."""
        found = self._compiled.get((name, locale))
        if found is None:
            parts = tuple(self.environment.get_template(self.file_name(name, part, locale)) for part in PARTS)
            found = self._compiled[(name, locale)] = (parts, flat_globals(parts))
        return found

    def person_attributes(self, name: str, locale: str | None = None) -> set[str]:
        """The user attributes the parts of template `name` read on people (for a sample email of it)."""
        found: set[str] = set()
        for part in PARTS:
            source, _, _ = self.environment.loader.get_source(self.environment, self.file_name(name, part, locale))  # type: ignore[union-attr]
            found |= person_attributes(self.environment.parse(source))
        return found

    def shown(self, file: str | None) -> str:
        """A template file as the user knows it: under templates/email/ of the workspace."""
        path = Path(file or "")
        try:
            return str(path.relative_to(self.folder.parent.parent))
        except ValueError:
            return str(path)


def one_line(text: str) -> str:
    """Header-safe text: control characters (CR, LF, ...) become spaces, runs of space one."""
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", text).strip()


@cache
def _bytecode_cache() -> BytecodeCache | None:
    """Compiled templates kept between commands (keyed by name and source checksum), in Jinja2's
    per-user folder (private to the user, checked by Jinja2); none when that folder cannot be made."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


@cache
def templates_for(folder: Path) -> Templates:
    """The templates of a folder, created once per process."""
    return Templates(folder)


def check_templates(root: Path, processes: dict[str, Process], *, render: bool = True) -> list[Diagnostic]:
    """Every template a process names exists in full (in each locale that has it), parses, reads only
    what its context provides, and (with `render`) renders with a sample email of its kind. Rendering
    compiles every template, so only `validate` asks for it; a batch meeting a template that fails
    stops at its line and writes nothing of the chunk."""
    folder = root / "templates" / "email"
    # a reason comes only with what a person fires on a card (approve, reject, ... with --reason),
    # and with what a `fire` effect fires (the card and trigger that caused it)
    reasoned = {name for p in processes.values() if p.kind == "action" and p.actor != "system" for name in p.triggers}
    reasoned |= {name for fired in fires_by_trigger(processes).values() for name in fired}
    sent: dict[tuple[str, str], tuple[bool, Location]] = {}  # (email, to): with a reason every time, first effect
    fields: dict[tuple[str, str], frozenset[str]] = {}  # (email, to): the card fields of the cards it is about
    for process in processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                for pair in effects.kind(effect).emails(effect):
                    reason, where = sent.get(pair, (True, effect.location))
                    sent[pair] = (reason and transition.trigger in reasoned, where)
                    fields[pair] = fields.get(pair, frozenset()) | frozenset(process.fields)
    found: list[Diagnostic] = []
    templates = templates_for(folder)
    templates.refresh()  # the files may have changed since this process compiled them
    environment = templates.environment  # what validate compiles here, a batch then renders without compiling again
    for (email, to), (reason, where) in sent.items():
        found += _check_one(environment, folder, root, (email, to), reason, where, render=render, fields=fields[(email, to)])
    return found


def _check_one(
    environment: BoundedSandbox,
    folder: Path,
    root: Path,
    sent: tuple[str, str],
    reason: bool,
    where: Location,
    *,
    render: bool,
    fields: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """The template `sent` (name, to whom) in full; `reason`: whether its emails always carry one;
    `fields`: the card fields of the cards it is sent about."""
    name, to = sent
    found: list[Diagnostic] = []
    known = CONTEXT_VARIABLES[to] if reason else CONTEXT_VARIABLES[to] - {"reason"}
    locales = sorted({path.parent.name for path in folder.glob(f"*/{name}.*") if path.parent.name != "."})
    for part, suffix in PARTS.items():
        for locale in ["", *locales]:
            path = folder / locale / f"{name}.{suffix}"
            if not path.is_file():
                found.append(diagnostic(where, "E501", name=name, part=part, file=_shown(path, root)))
                continue
            found += _check_file(environment, folder, path, root, known, to, locale or None, render=render, fields=fields)
    return found


def _check_file(
    environment: BoundedSandbox,
    folder: Path,
    path: Path,
    root: Path,
    known: frozenset[str],
    to: str,
    locale: str | None,
    *,
    render: bool,
    fields: frozenset[str] = frozenset(),
) -> Iterator[Diagnostic]:
    shown = _shown(path, root)
    try:
        source = path.read_text(encoding="utf-8")
        tree = environment.parse(source)
    except TemplateSyntaxError as error:
        yield diagnostic(Location(shown, error.lineno or 1), "E502", detail=error.message or "syntax error")
        return
    except (OSError, UnicodeDecodeError) as error:
        yield diagnostic(Location(shown), "E008", detail=str(error))
        return
    except (ValueError, RecursionError, MemoryError) as error:  # a 5,000-digit literal, nesting beyond the parser
        yield diagnostic(Location(shown, _long_number_line(source)), "E502", detail=_detail(error))
        return
    try:
        static = list(_static_problems(tree, shown, known, to, fields))
    except TemplateSyntaxError as error:  # found while compiling: a block defined twice, ...
        yield diagnostic(Location(shown, error.lineno or 1), "E502", detail=error.message or "syntax error")
        return
    yield from static
    if render and not static:
        sample = sample_context(to, locale, reason="reason" in known, attributes=person_attributes(tree), fields=fields)
        yield from _render_sample(environment, folder, path, root, to, sample)


def _static_problems(
    tree: nodes.Template, shown: str, known: frozenset[str], to: str, fields: frozenset[str] = frozenset()
) -> Iterator[Diagnostic]:
    for name in sorted(meta.find_undeclared_variables(tree) - known):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
        yield diagnostic(Location(shown, line), "E503", name=name, to=to, known=", ".join(sorted(known)))
    lookups: Iterator[Any] = tree.find_all((nodes.Getattr, nodes.Getitem))
    for node in lookups:
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            yield diagnostic(Location(shown, node.lineno), "E504", attr=attr)
        elif isinstance(attr, str) and isinstance(node.node, nodes.Name) and node.node.name in known:
            yield from _unknown_attribute(node.node.name, attr, Location(shown, node.lineno), fields)


def _unknown_attribute(record: str, attr: str, where: Location, fields: frozenset[str] = frozenset()) -> Iterator[Diagnostic]:
    """E505 for `record.attr` where the record has no such attribute; on a person, only for a near
    miss of one of its fields (`holder.nam`): any other name may be an attribute of the users."""
    if record in PERSONS:
        if attr not in PERSON_FIELDS and did_you_mean(attr, PERSON_FIELDS):
            known = f"{', '.join(sorted(PERSON_FIELDS))} or an attribute of the users{did_you_mean(attr, PERSON_FIELDS)}"
            yield diagnostic(where, "E505", name=f"{record}.{attr}", known=known)
        return
    attributes = CONTEXT_ATTRIBUTES.get(record)
    if attributes is not None and record == "card":
        attributes |= fields  # the card fields its lifecycle declares
    if attributes is not None and attr not in attributes:
        yield diagnostic(where, "E505", name=f"{record}.{attr}", known=", ".join(sorted(attributes)))


def person_attributes(tree: nodes.Template) -> set[str]:
    """The names a template reads that no record of the context has but a person may (`holder.department`,
    `card.holder.department`): the sample people carry them, so that validate renders what a batch would."""
    lookups: Iterator[Any] = tree.find_all((nodes.Getattr, nodes.Getitem))
    read = {node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None) for node in lookups}
    names = {name for name in read if isinstance(name, str) and not name.startswith("_")}
    return names - PERSON_FIELDS - set().union(*CONTEXT_ATTRIBUTES.values())


def person_reads(root: Path, email: str) -> list[tuple[str, str, Location]]:
    """What the template `email` (every part, every locale) reads of a person beyond a person's
    fields (`holder.department`), each where it is first read; not what it allows to be missing
    (`| default(...)`, `is defined`). Each as (attribute, as written, where); a file that does not
    parse reads nothing here (validate says why)."""
    folder = root / TEMPLATES
    environment = templates_for(folder).environment
    found: dict[str, tuple[str, Location]] = {}
    locales = ["", *sorted(path.name for path in folder.iterdir() if path.is_dir())] if folder.is_dir() else []
    files = [folder / locale / f"{email}.{suffix}" for locale in locales for suffix in PARTS.values()]
    for path in (path for path in files if path.is_file()):
        try:
            tree = environment.parse(path.read_text(encoding="utf-8"))
        except (TemplateSyntaxError, OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
            continue
        checks: Iterator[Any] = tree.find_all((nodes.Filter, nodes.Test))
        allowed = {id(node.node) for node in checks if node.name in ("default", "d", "defined")}
        names = person_attributes(tree)
        for node in tree.find_all(nodes.Getattr):
            if node.attr in names and _of_a_person(node.node) and id(node) not in allowed:
                found.setdefault(node.attr, (_written(node), Location(_shown(path, root), node.lineno)))
    return [(attr, shown, where) for attr, (shown, where) in sorted(found.items())]


def _written(node: nodes.Node) -> str:
    """An attribute lookup as the template writes it (`entry.holder.department`)."""
    if isinstance(node, nodes.Getattr):
        return f"{_written(node.node)}.{node.attr}"
    return node.name if isinstance(node, nodes.Name) else "..."


def _of_a_person(node: nodes.Node) -> bool:
    """Whether `node` stands for a person: `holder`, `recipient`, `requester`, or a card's (`entry.holder`)."""
    if isinstance(node, nodes.Name):
        return node.name in PERSONS
    return isinstance(node, nodes.Getattr) and node.attr in PERSONS


def _render_sample(
    environment: BoundedSandbox, folder: Path, path: Path, root: Path, to: str, sample: dict[str, Any]
) -> Iterator[Diagnostic]:
    """The file rendered with a sample email to `to` (in its locale): E506 at the line where it fails."""
    try:
        template = environment.get_template(path.relative_to(folder).as_posix())
        render_bounded(environment, [template], sample, seconds=VALIDATE_SECONDS)
    except TemplateProblem as problem:
        file = _shown(Path(problem.file), root) if problem.file else _shown(path, root)
        yield diagnostic(Location(file, problem.line or 1), "E506", to=to, detail=problem.message)
    except TemplateSyntaxError as error:
        yield diagnostic(Location(_shown(path, root), error.lineno or 1), "E502", detail=error.message or "syntax error")
    except (TemplateError, ValueError, RecursionError, MemoryError) as error:
        yield diagnostic(Location(_shown(path, root)), "E506", to=to, detail=_detail(error))


def _long_number_line(source: str) -> int:
    """The line of the first number too long for Python to read (1 if there is none)."""
    found = re.search(r"\d{4000,}", source)
    return source.count("\n", 0, found.start()) + 1 if found else 1


def _detail(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
