"""Property-based: email templates generated and mutated from the shipped ones (lines deleted,
duplicated, swapped; hostile snippets, huge numbers, long strings, deep nesting, unicode, tabs, BOMs,
NUL bytes) give diagnostics or a one-line error, exit 1 or 2, never a traceback, never over 2 s.

Two entry points, the ones the CLI uses: `cardflow validate` (the workspace loaded and checked,
templates rendered with sample emails), and rendering as a batch does (`Templates.render` with an
email's context), which must give the email or a RenderError naming the template.
`pytest --hypothesis-profile=deep tests/fuzz` is the long run.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutate import invoke
from workspace_copies import copy_reference

from engine.definitions.email_samples import sample_context
from engine.definitions.templates import PARTS, RenderError, Templates
from engine.definitions.workspace import load_workspace
from engine.effects.email import Email

SECONDS = 2.0
EMAIL = ROOT / "templates" / "email"
SHIPPED = sorted(path.relative_to(EMAIL).as_posix() for path in EMAIL.rglob("*") if path.is_file())
REFERENCE = load_workspace(ROOT)
#: Each shipped template and whom it goes to (its sample email's kind), as the processes send it.
KIND = {
    effect.email: effect.to
    for process in REFERENCE.processes.values()
    for transition in process.transitions
    for effect in transition.effects
    if isinstance(effect, Email)
}
#: The card fields the shipped lifecycles declare (a sample card has a value of each).
FIELDS = sorted({name for process in REFERENCE.processes.values() for name in process.fields})
DIAGNOSTIC = re.compile(r"^[^\n]+:\d+:\d+: E\d{3} [^\n]+$")

SNIPPETS = [
    "{{ card.holder.update({'email': 'mallory@example.com'}) }}",
    "{{ cards.append({'id': 666}) }}",
    "{{ holder|attr('__class__') }}",
    "{{ '{0.__class__}'.format(holder) }}",
    "{% include '/etc/passwd' %}",
    "{% include '../../README.md' %}",
    "{{ 9 ** 99999999 }}",
    "{{ holder.name|center(10**9) }}",
    "{{ 'x' * 10**8 }}",
    "{{ 1 / 0 }}",
    "{{ range(10**9)|list }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% block a %}{% endblock %}{% block a %}{% endblock %}",
    "{{ " + "9" * 5000 + " }}",
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "{{ '%999999999s' % 'x' }}",
    "{{ holder.name.ljust(10**9) }}",
    "{{ lipsum(10**6) }}",
    "{{ cycler(1, 2).next() }}{{ namespace(a=1).a }}",
    "{{ reason }}",
    "{{ holder.__dict__ }}",
    "{{ card['_private'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''.join(['x'] * 10**7) }}",
    "{{ holder.name|indent(10**9) }}",
    "{{ [1]|batch(10**9, 'x')|list }}",
    "{{ (card.id|string) * 100000 }}",
    "{% set x = 'ab' %}{% for i in range(20) %}{% set x = x ~ x %}{% endfor %}{{ x }}",
    "{% raw %}",
    "{% if %}",
    "{{",
    "}}",
    "{% for %}",
    "{% extends 'card_ordered.html' %}",
    "{% import 'card_ordered.html' as m %}{{ m.x }}",
    "{{ card.id|tojson(indent=10**9) }}",
    "\ufeff",
    "\x00",
    "\t\t{{ holder.name }}\r\n",
    "{{ ((((((((((((((((((((1)))))))))))))))))))) }}",
]


def nested(depth: int) -> str:
    return "{{ " + "(" * depth + "1" + ")" * depth + " }}"


@st.composite
def template_texts(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped template file, mutated: (its path under templates/email, its new text)."""
    name = draw(st.sampled_from(SHIPPED))
    lines = (EMAIL / name).read_text(encoding="utf-8").splitlines(keepends=True) or ["\n"]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "snippet", "text", "nest", "number", "long", "retype"]))
        if action == "delete" and len(lines) > 1:
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "snippet":
            lines.insert(at, draw(st.sampled_from(SNIPPETS)) + "\n")
        elif action == "text":
            lines.insert(at, draw(st.text(max_size=40)) + "\n")
        elif action == "nest":
            lines.insert(at, nested(draw(st.sampled_from([10, 100, 1000, 5000]))) + "\n")
        elif action == "number":
            lines[at] = re.sub(r"\d+", lambda _: "9" * draw(st.sampled_from([1, 20, 4300, 5000])), lines[at]) + "{{ 1 }}"
        elif action == "long":
            lines.insert(at, "{{ '" + "x" * draw(st.sampled_from([100, 10_000, 200_000])) + "' }}\n")
        else:
            lines[at] = re.sub(r"\{\{ *([a-z_.]+) *\}\}", "{{ \\1|int * 7 }}", lines[at])
    return name, "".join(lines)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """A copy of the reference workspace, its templates restored after every example."""
    folder = Path(tempfile.mkdtemp(prefix="cardflow-fuzz-templates-"))
    copy_reference(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def written(workspace: Path, name: str, text: str) -> Path:
    path = workspace / "templates" / "email" / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def restore(workspace: Path, name: str) -> None:
    shutil.copy(EMAIL / name, workspace / "templates" / "email" / name)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(template_texts())
def test_validate_gives_diagnostics_never_a_traceback(workspace: Path, mutated: tuple[str, str]) -> None:
    """`cardflow validate` on a mutated template: exit 0 or 1, each line FILE:LINE:COL: CODE message,
    under 2 s of processor time (a wall clock fails on a loaded machine, not on a slow validate)."""
    name, text = mutated
    written(workspace, name, text)
    try:
        result, elapsed = invoke("validate", "--workspace", str(workspace))
    finally:
        restore(workspace, name)
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert all(DIAGNOSTIC.match(line) for line in result.stdout.splitlines()), result.stdout
    assert elapsed < SECONDS, (elapsed, name)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(template_texts(), st.sampled_from([None, "sv"]))
def test_rendering_gives_an_email_or_a_render_error_at_a_line(
    workspace: Path, mutated: tuple[str, str], locale: str | None
) -> None:
    """Rendering a mutated template as a batch does: the email, or one RenderError line naming the
    template; under 2 s of processor time."""
    name, text = mutated
    template = Path(name).name.split(".")[0]
    folder = Path(tempfile.mkdtemp(prefix="render-", dir=workspace))
    try:
        shutil.copytree(workspace / "templates" / "email", folder / "templates" / "email")
        (folder / "templates" / "email" / name).write_bytes(text.encode("utf-8", "surrogatepass"))
        templates = Templates(folder / "templates" / "email")
        started = time.process_time()
        try:
            rendered = templates.render(template, sample_context(KIND[template], locale, fields=FIELDS), locale)
        except RenderError as error:
            assert "\n" not in error.message and template in error.message, error.message
        else:
            assert "\n" not in rendered.subject and len(rendered.text) <= 4 * 1024 * 1024
        elapsed = time.process_time() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert elapsed < SECONDS, (elapsed, name)


def test_the_shipped_templates_render_for_every_kind_and_locale() -> None:
    """The reference templates render with the sample email of their kind, in English and Swedish."""
    templates = Templates(EMAIL)
    for name, kind in KIND.items():
        for locale in (None, "sv"):
            rendered = templates.render(name, sample_context(kind, locale, fields=FIELDS), locale)
            assert rendered.subject and rendered.text and rendered.html
    assert set(PARTS) == {"subject", "text", "html"}
