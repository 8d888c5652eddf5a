"""Operations declared once: id, models, side effect, scope, errors, handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from geopera_stac_ext.core.errors import GeoperaError
from geopera_stac_ext.core.jsonsafe import check_json

SideEffect = Literal["read", "compute", "destructive", "share_export"]


class Params(BaseModel):
    """Base of every op's parameters: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_json(cls, data: Any) -> Any:
        # NOTE: every op body passes here first (core/jsonsafe.py): NUL and lone surrogates
        # in text, integers beyond 64 bits, NaN/Infinity and nesting too deep are refused,
        # naming where they are, instead of failing in orjson or the database after part of
        # the work was done.
        check_json(data)
        return data

    def given(self, name: str) -> bool:
        """True when the caller sent the field (even as null): patch-by-presence semantics."""
        return name in self.model_fields_set


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


REGISTRY: dict[str, Operation] = {}


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
    """Register an async handler `(ctx, params) -> result` under `op_id`."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        if op_id in REGISTRY:
            raise RuntimeError(f"operation {op_id} registered twice")
        REGISTRY[op_id] = Operation(
            id=op_id, params=params, result=result, side_effect=side_effect, scope=scope,
            purpose=purpose, handler=fn, errors=errors, media_type=media_type,
            write=side_effect != "read",
        )
        return fn

    return deco


def load_all() -> dict[str, Operation]:
    """Import every op module so their decorators run; returns the registry."""
    import importlib
    import pkgutil

    import geopera_stac_ext.ops as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in ("registry", "context"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return REGISTRY
