"""Operations declared once: id, models, side effect, scope, errors, handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel

from geopera_stac_ext.core.errors import GeoperaError
from geopera_stac_ext.core.fields import Params

SideEffect = Literal["read", "compute", "destructive", "share_export"]


@dataclass(frozen=True)
class Operation:
    id: str
    params: type[BaseModel]
    result: Any
    side_effect: SideEffect
    scope: str
    purpose: str
    handler: Callable[..., Awaitable[Any]]
    errors: tuple[type[GeoperaError], ...] = ()
    media_type: str = "application/json"
    # NOTE: read ops run on the read pool without a transaction; the rest in one transaction.
    write: bool = field(default=False)


def op(
    op_id: str,
    *,
    params: type[BaseModel],
    result: Any,
    side_effect: SideEffect,
    scope: str,
    purpose: str,
    errors: tuple[type[GeoperaError], ...] = (),
    media_type: str = "application/json",
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Declare an async handler `(ctx, params) -> result` as the op `op_id` (ops/catalog.py
    lists the modules whose declared ops the API serves)."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        fn.operation = Operation(  # type: ignore[attr-defined]
            id=op_id, params=params, result=result, side_effect=side_effect, scope=scope,
            purpose=purpose, handler=fn, errors=errors, media_type=media_type,
            write=side_effect != "read",
        )
        return fn

    return deco


def collect(modules: Iterable[ModuleType]) -> dict[str, Operation]:
    """The ops declared in these modules, by id; an id declared twice is an error."""
    out: dict[str, Operation] = {}
    for module in modules:
        for value in vars(module).values():
            operation = getattr(value, "operation", None)
            # NOTE: only handlers defined in the module itself: an imported one is not redeclared.
            if not isinstance(operation, Operation) or value.__module__ != module.__name__:
                continue
            if operation.id in out:
                raise RuntimeError(f"operation {operation.id} declared twice")
            out[operation.id] = operation
    return out


__all__ = ["Operation", "Params", "SideEffect", "collect", "op"]
