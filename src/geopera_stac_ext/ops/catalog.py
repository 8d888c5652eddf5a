"""Every op module, listed once: the op API, its catalogue, OpenAPI and the demo serve these ops."""

from __future__ import annotations

from geopera_stac_ext.ops import (
    assets,
    auth,
    collections,
    downloads,
    item_update,
    items,
    lineage,
    search,
)
from geopera_stac_ext.ops.registry import Operation, collect

# NOTE: a new op module is added here (and nowhere else); CONTRIBUTING.md "Adding an op".
OP_MODULES = (auth, items, item_update, lineage, assets, collections, downloads, search)

REGISTRY: dict[str, Operation] = collect(OP_MODULES)
