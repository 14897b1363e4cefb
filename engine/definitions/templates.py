"""Email templates: found per locale, loaded once, rendered in Jinja2's sandbox, checked at validate time.

A template NAME is three files in `templates/email/` (or `templates/email/<locale>/`):
`NAME.subject.txt`, `NAME.text.txt` and `NAME.html` (autoescaped). Rendering uses `StrictUndefined`,
so a missing variable is an error, never an empty string; the sandbox refuses Python internals.
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
from jinja2.runtime import new_context
from jinja2.sandbox import SandboxedEnvironment

from engine.definitions.model import Process
from engine.diagnostics import Diagnostic, Location, diagnostic
from engine.errors import CardflowError

PARTS = {"subject": "subject.txt", "text": "text.txt", "html": "html"}
#: The variables each kind of recipient's email context provides (templates may use only these).
CONTEXT_VARIABLES: dict[str, frozenset[str]] = {
    "holder": frozenset({"recipient", "holder", "requester", "card", "process", "batch", "reason"}),
    "requester": frozenset({"recipient", "holder", "requester", "card", "process", "batch", "reason"}),
    "approvers": frozenset({"recipient", "requester", "process", "batch", "cards"}),
}


_PERSON = frozenset({"id", "name", "email", "locale"})
#: The attributes of the records in an email context.
CONTEXT_ATTRIBUTES: dict[str, frozenset[str]] = {
    "recipient": _PERSON,
    "holder": _PERSON,
    "requester": _PERSON,
    "card": frozenset({"id", "user", "state", "process", "requester", "production_type", "batch", "holder"}),
    "process": frozenset({"symbolic_name", "name"}),
    "batch": frozenset({"id"}),
}


class RenderError(CardflowError):
    """An email could not be rendered (undefined variable, refused by the sandbox, missing file)."""

    exit_code = 1


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
        self.environment = SandboxedEnvironment(
            loader=FileSystemLoader(str(folder)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._compiled: dict[tuple[str, str | None], tuple[dict[str, Any], tuple[Template, ...]]] = {}

    def file_name(self, name: str, part: str, locale: str | None = None) -> str:
        """The loader name of a part, in the locale's folder when it has the template, else the default."""
        base = f"{name}.{PARTS[part]}"
        if locale and re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z]{2})?", locale) and (self.folder / locale / base).is_file():
            return f"{locale}/{base}"
        return base

    def render(self, name: str, context: dict[str, Any], locale: str | None = None) -> Rendered:
        """Render every part of template `name`; RenderError with the template and reason on failure.

        The three parts are rendered from one context: the variables are merged with the
        environment's globals once and shared by each part's Jinja context (Jinja's `render`
        copies the globals and the variables for every part)."""
        try:
            globals_, templates = self._parts(name, locale)
            variables = {**globals_, **context}
            subject, text, html = (self._render_part(template, variables, globals_) for template in templates)
        except TemplateError as error:
            raise RenderError(f"cannot render email template '{name}': {type(error).__name__}: {error}") from None
        return Rendered(one_line(subject), text, html)

    def _parts(self, name: str, locale: str | None) -> tuple[dict[str, Any], tuple[Template, ...]]:
        """The globals and the compiled subject, text and HTML templates of `name` in `locale`, looked up once."""
        found = self._compiled.get((name, locale))
        if found is None:
            templates = tuple(self.environment.get_template(self.file_name(name, part, locale)) for part in PARTS)
            found = self._compiled[(name, locale)] = (dict(templates[0].globals), templates)
        return found

    def _render_part(self, template: Template, variables: dict[str, Any], globals_: dict[str, Any]) -> str:
        """One part rendered as `Template.render` does, on the shared variables."""
        context = new_context(self.environment, template.name, template.blocks, variables, True, globals_)
        try:
            return self.environment.concat(template.root_render_func(context))
        except Exception:
            self.environment.handle_exception()
            raise


def one_line(text: str) -> str:
    """Header-safe text: control characters (CR, LF, ...) become spaces, runs of space one."""
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", text).strip()


@cache
def templates_for(folder: Path) -> Templates:
    """The templates of a folder, created once per process."""
    return Templates(folder)


def check_templates(root: Path, processes: dict[str, Process]) -> list[Diagnostic]:
    """Every template a process names exists in full, parses, and reads only what its context provides."""
    folder = root / "templates" / "email"
    found: list[Diagnostic] = []
    checked: set[tuple[str, str]] = set()
    for process in processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                key = (effect.email, effect.to)
                if key in checked:
                    continue
                checked.add(key)
                found += _check_one(folder, root, effect.email, effect.to, effect.location)
    return found


def _check_one(folder: Path, root: Path, name: str, to: str, where: Location) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for part, suffix in PARTS.items():
        path = folder / f"{name}.{suffix}"
        if not path.is_file():
            found.append(diagnostic(where, "E501", name=name, part=part, file=_shown(path, root)))
            continue
        for variant in [path, *sorted(folder.glob(f"*/{name}.{suffix}"))]:
            found += _check_file(variant, root, CONTEXT_VARIABLES[to], to)
    return found


def _check_file(path: Path, root: Path, known: frozenset[str], to: str) -> Iterator[Diagnostic]:
    shown = _shown(path, root)
    try:
        source = path.read_text(encoding="utf-8")
        tree = templates_for(path.parent).environment.parse(source)
    except TemplateSyntaxError as error:
        yield diagnostic(Location(shown, error.lineno or 1), "E502", detail=error.message or "syntax error")
        return
    except (OSError, UnicodeDecodeError) as error:
        yield diagnostic(Location(shown), "E008", detail=str(error))
        return
    for name in sorted(meta.find_undeclared_variables(tree) - known):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
        yield diagnostic(Location(shown, line), "E503", name=name, to=to, known=", ".join(sorted(known)))
    lookups: Iterator[Any] = tree.find_all((nodes.Getattr, nodes.Getitem))
    for node in lookups:
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            yield diagnostic(Location(shown, node.lineno), "E504", attr=attr)
        elif isinstance(attr, str) and isinstance(node.node, nodes.Name) and node.node.name in known:
            attributes = CONTEXT_ATTRIBUTES.get(node.node.name)
            if attributes is not None and attr not in attributes:
                name = f"{node.node.name}.{attr}"
                yield diagnostic(Location(shown, node.lineno), "E505", name=name, known=", ".join(sorted(attributes)))


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def message_id(key: str) -> str:
    """A stable Message-ID for an outbox row: the same for every delivery attempt."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@cardflow.local>"
