"""CQL2 text → CQL2 JSON with the cql2 library, behind size and nesting limits, on a big-stack thread."""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from geopera_stac_ext.core.errors import InvalidRequest

# NOTE: the cql2 parser (Rust, pest) recurses once per nesting level and per chained operator;
# measured on an 8 MiB main-thread stack it overflows — a segfault that takes every tenant
# offline — at ~2,000 parentheses, ~4,000 chained NOT or unary minus and ~30,000 chained AND.
# The limits below stop such input before it reaches the parser, far below those numbers, and
# the parser runs on its own threads with a 64 MiB stack as a second line of defence.
MAX_TEXT_CHARS = 65_536
MAX_NESTING = 50  # brackets, and a run of prefix operators (NOT, unary - / +)
MAX_OPERATORS = 2_000  # operator tokens (AND, OR, NOT, comparisons, arithmetic, …)
PARSER_STACK_BYTES = 64 * 1024 * 1024
PARSER_THREADS = 2

_KEYWORD_OPS = {"AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "DIV"}
_SYMBOL_OPS = set("*/%^=<>!")


def _too(what: str, limit: int) -> InvalidRequest:
    return InvalidRequest(f"filter: CQL2 text {what} (limit {limit}); simplify the filter")


def _skip_quoted(text: str, i: int) -> int:
    """Index after the quoted literal starting at i ('…' or "…", doubled quote escapes)."""
    q, n, j = text[i], len(text), i + 1
    while j < n:
        if text[j] == q:
            if j + 1 < n and text[j + 1] == q:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _skip_number(text: str, i: int) -> int:
    n = len(text)
    while i < n and (text[i].isdigit() or text[i] in ".eE" or (
            text[i] in "+-" and i > 0 and text[i - 1] in "eE")):
        i += 1
    return i


def check_text_limits(text: str) -> None:
    """Reject CQL2 text that is too long, too deeply nested or has too many operators (400)."""
    if len(text) > MAX_TEXT_CHARS:
        raise _too(f"is {len(text)} characters long", MAX_TEXT_CHARS)
    depth = ops = run = 0
    value_before = False  # NOTE: decides whether + / - / NOT is a prefix operator
    i, n = 0, len(text)
    while i < n:
        c, nxt = text[i], i + 1
        if c in "'\"":
            nxt, value_before, run = _skip_quoted(text, i), True, 0
        elif c.isspace():
            pass
        elif c in "([":
            depth, value_before = depth + 1, False
            if depth > MAX_NESTING:
                raise _too("nests brackets too deeply", MAX_NESTING)
        elif c in ")]":
            depth, value_before, run = depth - 1, True, 0
        elif c.isalpha() or c == "_":
            while nxt < n and (text[nxt].isalnum() or text[nxt] in "_:."):
                nxt += 1
            word = text[i:nxt].upper()
            if word in _KEYWORD_OPS:
                ops += 1
                run = run + 1 if word == "NOT" and not value_before else 0
                value_before = False
            else:
                value_before, run = True, 0
        elif c.isdigit() or (c == "." and nxt < n and text[nxt].isdigit()):
            nxt, value_before, run = _skip_number(text, i), True, 0
        elif c in "+-":
            if value_before:
                ops, run, value_before = ops + 1, 0, False
            elif nxt < n and (text[nxt].isdigit() or text[nxt] == "."):
                nxt, value_before, run = _skip_number(text, nxt), True, 0
            else:
                ops, run = ops + 1, run + 1
        elif c in _SYMBOL_OPS:
            ops, run, value_before = ops + 1, 0, False
        else:
            value_before = False
        if run > MAX_NESTING:
            raise _too("chains too many prefix operators (NOT, -)", MAX_NESTING)
        if ops > MAX_OPERATORS:
            raise _too("has too many operators", MAX_OPERATORS)
        i = nxt


_jobs: "queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]" = queue.SimpleQueue()
_start_lock = threading.Lock()
_workers: list[threading.Thread] = []


def _work() -> None:
    while True:
        fn, fut = _jobs.get()
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(fn())
        except BaseException as e:  # NOTE: handed to the waiting request, not swallowed
            fut.set_exception(e)


def _submit(fn: Callable[[], Any]) -> "Future[Any]":
    with _start_lock:
        if not _workers:
            # NOTE: threading.stack_size applies to threads started after it; restored at once.
            old = threading.stack_size(PARSER_STACK_BYTES)
            try:
                for n in range(PARSER_THREADS):
                    t = threading.Thread(target=_work, name=f"cql2-parser-{n}", daemon=True)
                    t.start()
                    _workers.append(t)
            finally:
                threading.stack_size(old)
    fut: Future[Any] = Future()
    _jobs.put((fn, fut))
    return fut


def _parse(text: str) -> Any:
    from cql2 import Expr

    try:
        return Expr(text).to_json()
    except Exception as e:  # NOTE: cql2 raises a bare Exception on parse errors.
        msg = " ".join(str(e).split())[:300]
        raise InvalidRequest(f"filter: malformed CQL2 text: {msg}") from None


def parse_cql2_text(text: str) -> Any:
    """CQL2 text → CQL2 JSON (blocking); 400 naming the limit or quoting the parser."""
    check_text_limits(text)
    return _submit(lambda: _parse(text)).result()


async def parse_cql2_text_async(text: str) -> Any:
    """CQL2 text → CQL2 JSON off the event loop; 400 naming the limit or quoting the parser."""
    check_text_limits(text)
    return await asyncio.wrap_future(_submit(lambda: _parse(text)))


__all__ = ["check_text_limits", "parse_cql2_text", "parse_cql2_text_async", "MAX_TEXT_CHARS",
           "MAX_NESTING", "MAX_OPERATORS"]
