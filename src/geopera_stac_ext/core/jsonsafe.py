"""One check that free-form JSON can be stored and served: depth, 64-bit integers, finite numbers, text."""

from __future__ import annotations

import math
from typing import Any

import orjson

# NOTE: the limits of what the service can store and render, enforced on every request body
# (op params, the STAC POST body, CQL2 and query filters) before any work is done, so a bad
# value is a 400 naming its field rather than a 500 from orjson ("Integer exceeds 64-bit
# range", "Recursion limit reached", "surrogates not allowed") or PostgreSQL (NUL in text).
MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # orjson serialises i64 and u64


class FieldValueError(ValueError):
    """A ValueError that knows the field it is about (problems.describe_validation uses it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def check_json(value: Any, path: str = "") -> None:
    """Raise FieldValueError for the first value that cannot be stored."""
    if (problem := unsafe_json(value, path)) is not None:
        field, _, message = problem.partition(": ")
        raise FieldValueError(field, message)


def _orjson_depth_limit() -> int:
    v: Any = 0
    for n in range(1, 10_000):
        v = [v]
        try:
            orjson.dumps(v)
        except orjson.JSONEncodeError:
            return n - 1
    raise RuntimeError("orjson has no recursion limit")  # pragma: no cover


# NOTE: the fast path: orjson (C) serialises the value wrapped in WRAP single-element lists,
# so its own recursion limit fails exactly when the value nests deeper than MAX_DEPTH; it
# also fails on integers beyond 64 bits and lone surrogates, and writes NaN/Infinity as null,
# which the round trip below detects. Measured on a 10,000-vertex polygon: 4 ms, where the
# Python walk (kept to name the field) takes 100 ms on the event loop.
WRAP = _orjson_depth_limit() - MAX_DEPTH


def unsafe_json(value: Any, path: str = "", *, decoded: bool = False) -> str | None:
    """A sentence naming the first value that cannot be stored, or None when all is well.

    decoded=True: the value is what orjson.loads returned (search/stac_input.py), so its
    numbers are finite and its text valid UTF-8; only depth and NUL remain to check, and the
    round trip below (half the time on an 800 KB body) is skipped.
    """
    wrapped = value
    for _ in range(WRAP):
        wrapped = [wrapped]
    try:
        dumped = orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return _walk(value, path, 0)
    if b"\\u0000" in dumped or (not decoded and orjson.loads(dumped) != wrapped):
        return _walk(value, path, 0)
    return None


def _walk(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The slow path: find and name the offending value."""
    where = path or "body"
    if len(where) > 80:
        where = where[:40] + "…" + where[-20:]
    if depth > MAX_DEPTH:
        return f"{where}: nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        return _bad_text(value, where)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            return f"{where}: integer out of the 64-bit range"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: NaN and Infinity are not numbers"
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and (bad := _bad_text(k, where)):
                return bad.replace(": text", ": a key")
            here = f"{path}.{k}" if path else str(k)
            if (found := _walk(v, here, depth + 1)) is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if (found := _walk(v, f"{path}[{i}]" if path else f"[{i}]",
                               depth + 1)) is not None:
                return found
    return None


def _bad_text(text: str, where: str) -> str | None:
    if "\x00" in text:
        return f"{where}: text must not contain NUL (\\u0000) characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{where}: text must not contain lone surrogates (e.g. \\ud800); send valid UTF-8"
    return None


__all__ = ["check_json", "unsafe_json", "FieldValueError", "MAX_DEPTH"]
