"""The sandbox email templates render in: immutable, bounded in time and size, failures at their line.

Administrators write templates, so a template may be hostile or just wrong. The environment is
Jinja2's `ImmutableSandboxedEnvironment` (no Python internals, and no `list.append` or
`dict.update` on the data it is given), with bounds on what one expression may build (`9 ** 99999999`,
`'x' * 10**8`, `center(10**9)`, `range(10**9)`, huge format widths) and on a whole render: at most
`RENDER_SECONDS` (a timer in the main thread; elsewhere checked at every call and operator, not at
every attribute: that check cost a tenth of a batch of emails in the main thread, where the timer
already covers it) and
`MAX_OUTPUT` characters per part. `render_bounded` turns every failure of a template, whatever
it is (sandbox refusal, undefined variable, division by zero, recursion, over a bound), into a
`TemplateProblem` naming the template file and line where it happened.
"""

from __future__ import annotations

import _thread
import gc
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from types import TracebackType
from typing import Any

from jinja2 import Environment, Template
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: A whole email part may be at most this long (a 100 MB body is no email).
MAX_OUTPUT = 4 * 1024 * 1024
#: One render of a template may take at most this long.
RENDER_SECONDS = 1.0
#: A string, list or tuple built by `*` may have at most this many items.
MAX_SEQUENCE = 1_000_000
#: An integer built by `**` may have at most this many bits (about 3,000 digits).
MAX_INT_BITS = 10_000
#: A width, count or indent given to a filter or a string method may be at most this.
MAX_WIDTH = 10_000
MAX_RANGE = 10_000
_WIDE_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice", "tojson", "urlize", "format")
_WIDE_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_BIG_WIDTH = re.compile(r"\d{5,}|\*")
_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\d{5,}|\*)|%[-#0 +]*\d*\.\d{5,}")
_BRACE_WIDTH = re.compile(r"\{[^{}]*[:!][^{}]*\d{5,}")


class TemplateProblem(Exception):
    """A template failed to render: what went wrong, and the template file and line where."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.file, self.line = message, file, line

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")


class RenderTimeout(Exception):
    """A render ran past RENDER_SECONDS."""


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with bounds on what an expression may build and a render may take."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals.pop("lipsum", None)
        self.globals["range"] = _bounded_range
        for name in _WIDE_FILTERS:
            if name in self.filters:
                self.filters[name] = _narrow(self.filters[name], name)
        self.deadline = threading.local()

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "%" and isinstance(left, str) and _PERCENT_WIDTH.search(left):
            raise SecurityError(f"a format width over {MAX_WIDTH} is refused")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.check_time()
        if getattr(__obj, "__name__", None) in _WIDE_METHODS and isinstance(getattr(__obj, "__self__", None), str):
            _check_widths(__obj.__name__, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _BRACE_WIDTH.search(str(value.__self__)):
            raise SecurityError(f"a format width over {MAX_WIDTH} is refused")
        return wrapped

    def check_time(self) -> None:
        """Outside the main thread (no timer there), a render past its deadline stops at its next call
        (in the main thread there is no deadline here: the timer stops the render)."""
        deadline = getattr(self.deadline, "at", None)
        if deadline is not None and time.monotonic() > deadline:
            raise RenderTimeout()


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"a range of more than {MAX_RANGE} numbers is refused")
    return numbers


def _check_power(left: Any, right: Any) -> None:
    numbers = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
    if numbers and right * math.log2(abs(left)) > MAX_INT_BITS:
        raise SecurityError(f"{left} ** {right} is too large a number (over {MAX_INT_BITS} bits)")


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int) and len(sequence) * count > MAX_SEQUENCE:
            raise SecurityError(f"repeating {len(sequence)} items {count} times is refused (over {MAX_SEQUENCE})")


def _check_widths(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
            raise SecurityError(f"{name}({value}) is refused: widths and counts are at most {MAX_WIDTH}")
        if name == "format" and isinstance(value, str) and _PERCENT_WIDTH.search(value):
            raise SecurityError(f"a format width over {MAX_WIDTH} is refused")


def _narrow(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A filter that refuses widths and counts over MAX_WIDTH (its first argument, the value, is free)."""

    @wraps(function)
    def narrowed(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not _is_context(a)]
        if name == "format" and values and isinstance(values[0], str) and _PERCENT_WIDTH.search(values[0]):
            raise SecurityError(f"a format width over {MAX_WIDTH} is refused")
        if name != "format":  # format's arguments are the values to format, not widths
            _check_widths(name, tuple(values[1:]), kwargs)
        return function(*args, **kwargs)

    return narrowed


def _is_context(value: Any) -> bool:
    """The environment or context Jinja passes first to some filters (not a value of the template)."""
    return isinstance(value, Environment | EvalContext | Context)


def render_bounded(
    environment: BoundedSandbox,
    templates: Sequence[Template],
    context: dict[str, Any],
    *,
    seconds: float = RENDER_SECONDS,
    globals_: dict[str, Any] | None = None,
) -> list[str]:
    """Render each template within the bounds (one deadline of `seconds` for them all); TemplateProblem
    at the template's file and line on any failure.

    The templates share one context: the variables are merged with the environment's globals once
    (Jinja's `render` copies the globals and the variables for every template). `globals_` is
    `flat_globals(templates)`, for a caller that renders the same templates many times."""
    globals_ = flat_globals(templates) if globals_ is None else globals_
    variables = {**globals_, **context}
    try:
        with _deadline(environment, seconds):
            return [_generate(environment, template, variables, globals_) for template in templates]
    except TemplateProblem:
        raise
    except RenderTimeout as late:
        raise TemplateProblem(f"rendering took longer than {seconds:g} s", *_where(late.__traceback__)) from None
    except RecursionError as deep:
        message = "too deep a recursion (a macro or an include that calls itself?)"
        raise TemplateProblem(message, *_where(deep.__traceback__)) from None
    except Exception as error:  # any failure of a template is a problem of that template
        message = f"{type(error).__name__}: {_one_line(str(error))}"
        raise TemplateProblem(message, *_where(error.__traceback__)) from None


def flat_globals(templates: Sequence[Template]) -> dict[str, Any]:
    """The globals of the templates as one plain dict (Jinja keeps them as a ChainMap, which every
    merge and every new context would walk again)."""
    return dict(templates[0].globals) if templates else {}


def _generate(environment: BoundedSandbox, template: Template, variables: dict[str, Any], globals_: Any) -> str:
    """One template rendered as `Template.generate` does, on the shared variables, at most MAX_OUTPUT long."""
    context = new_context(environment, template.name, template.blocks, variables, True, globals_)
    chunks: list[str] = []
    append, size = chunks.append, 0  # a template yields a chunk for each text and each value
    try:
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                break
            append(chunk)
    except Exception:
        environment.handle_exception()  # re-raised with the template's own file and line in its traceback
    if size > MAX_OUTPUT:
        raise TemplateProblem(f"the rendered text is over {MAX_OUTPUT:,} characters", template.filename)
    return "".join(chunks)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _where(traceback: TracebackType | None) -> tuple[str | None, int | None]:
    """The file and line of the innermost template frame of a failure (an included template's when
    it failed there): Jinja's rewritten frames carry the template's file and line, its own frames
    the template they run."""
    found: tuple[str | None, int | None] = (None, None)
    while traceback is not None:
        frame = traceback.tb_frame
        template = frame.f_globals.get("__jinja_template__")
        if "__jinja_exception__" in frame.f_globals:
            found = (frame.f_code.co_filename, traceback.tb_lineno)
        elif template is not None:
            found = (template.filename, template.get_corresponding_lineno(traceback.tb_lineno))
        traceback = traceback.tb_next
    return found


_MAIN = threading.main_thread().ident
_TIMER = hasattr(signal, "setitimer")
#: how often a render session's watchdog looks at the clock (a render stops at most this late)
WATCH_SECONDS = 0.05


class _Session:
    """The render session open in the main thread: when its current render must end (None between renders)."""

    open = False
    until: float | None = None


class _Paused:
    """The cyclic garbage collector's pauses, which are not a template's time: a full collection of a
    big heap (a process that compiled many machines) took most of a second, and a render it fell in
    was stopped as out of time. Each pause moves the current deadline on by its length."""

    began: float | None = None  # when the collection in progress began
    alarm: tuple[float, float] | None = None  # the timer's render: when it began and its seconds
    total = 0.0  # the pauses since the timer's render began


def _collector(phase: str, info: dict[str, Any]) -> None:
    if phase != "stop":  # a collection begins
        _Paused.began = time.monotonic()
    elif _Paused.began is not None:
        paused, _Paused.began = time.monotonic() - _Paused.began, None
        _Paused.total += paused
        if _Session.until is not None:
            _Session.until += paused


gc.callbacks.append(_collector)


@contextmanager
def render_session() -> Iterator[None]:
    """Many renders in a row (a batch's emails), timed by one watchdog: a thread that looks at the
    clock every WATCH_SECONDS and, when a render runs past its deadline, stops it as the timer
    would (SIGALRM's handler, raised in the main thread). A render then only notes its deadline;
    arming a timer for each email cost a fifth of a render."""
    if threading.get_ident() != _MAIN or not _TIMER or _Session.open:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    stop = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(stop,), name="cardflow-render-watchdog", daemon=True)
    _Session.open = True
    watchdog.start()
    try:
        yield
    finally:
        stop.set()
        watchdog.join()
        _Session.open, _Session.until = False, None
        signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)


def _watch(stop: threading.Event) -> None:
    while not stop.wait(WATCH_SECONDS):
        until = _Session.until
        if until is not None and time.monotonic() > until:
            _thread.interrupt_main(signal.SIGALRM)


@contextmanager
def _deadline(environment: BoundedSandbox, seconds: float) -> Iterator[None]:
    """`seconds` from now: in the main thread a SIGALRM timer (or the session's watchdog), elsewhere
    a deadline the hooks check."""
    if threading.get_ident() != _MAIN or not _TIMER:
        environment.deadline.at = time.monotonic() + seconds
        try:
            yield
        finally:
            environment.deadline.at = None
    elif _Session.open:
        _Session.until = time.monotonic() + seconds
        try:
            yield
        finally:
            _Session.until = None
    else:
        previous = signal.signal(signal.SIGALRM, _out_of_time)
        _Paused.alarm, _Paused.total = (time.monotonic(), seconds), 0.0
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _Paused.alarm = None
            signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)


def _out_of_time(signum: int, frame: Any) -> None:
    if _Session.open and (_Session.until is None or time.monotonic() <= _Session.until):
        return  # the watchdog's call came just after a render ended, or a pause moved the deadline on
    if _Paused.began is not None:  # in a collection, whose callbacks would lose the exception: look again after it
        if not _Session.open:
            signal.setitimer(signal.ITIMER_REAL, WATCH_SECONDS)
        return
    if not _Session.open and _Paused.alarm is not None:  # the timer: the collector's pauses are given back
        began, seconds = _Paused.alarm
        left = seconds - (time.monotonic() - began - _Paused.total)
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)
            return
    raise RenderTimeout()
