"""Asset signing for tools that cannot send headers: pystac-client's `modifier=sign_inplace`."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from geopera.client import Geopera

# NOTE: a signed URL lives 900 s; one is reused for an asset until less than this margin of
# its life is left, so a reader that opens it right away still has time to finish.
REUSE_MARGIN_SECONDS = 120


def embeddable(href: Any) -> bool:
    """A thumbnail/overview href the service already made usable without a header (its
    `access_token`): left as is, so signing it spends no grant."""
    return isinstance(href, str) and "access_token" in parse_qs(urlsplit(href).query)


class Signer:
    """Rewrites asset hrefs to signed URLs from `items.asset.download`, one grant per asset
    per URL lifetime (URLs are cached per asset id until close to expiry)."""

    def __init__(self, client: Geopera) -> None:
        self.client = client
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def url(self, item_id: str, asset_id: str) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(asset_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        grant = self.client.op("items.asset.download", item_id=item_id, asset_id=asset_id)
        ttl = float(grant.get("expires_in_seconds") or 0)
        with self._lock:
            self._cache[asset_id] = (grant["url"], now + max(0.0, ttl - REUSE_MARGIN_SECONDS))
        return grant["url"]

    def sign_item_dict(self, item: dict[str, Any]) -> None:
        for asset in (item.get("assets") or {}).values():
            asset_id = asset.get("geopera:asset_id")
            if asset_id and not embeddable(asset.get("href")):
                asset["href"] = self.url(str(item["id"]), str(asset_id))

    def __call__(self, obj: Any) -> Any:
        """Sign in place and return `obj`: a pystac Item, ItemCollection, Collection or
        Catalog (its items are signed as they are read), or a STAC item / FeatureCollection
        dict. Other values are returned untouched."""
        if isinstance(obj, Mapping):
            if obj.get("type") == "FeatureCollection":
                for feature in obj.get("features") or []:
                    self.sign_item_dict(feature)
            elif obj.get("type") == "Feature":
                self.sign_item_dict(obj)  # type: ignore[arg-type]
            return obj
        try:
            import pystac
        except ImportError:  # NOTE: pystac objects cannot occur without pystac
            return obj
        if isinstance(obj, pystac.ItemCollection):
            for item in obj.items:
                self(item)
        elif isinstance(obj, pystac.Item):
            for asset in obj.assets.values():
                asset_id = asset.extra_fields.get("geopera:asset_id")
                if asset_id and not embeddable(asset.href):
                    asset.href = self.url(obj.id, str(asset_id))
        return obj


_default: Signer | None = None
_default_lock = threading.Lock()


def sign_inplace(obj: Any) -> Any:
    """Module-level modifier: key and base URL from GEOPERA_API_KEY / GEOPERA_BASE_URL.

    Cost: one `items.asset.download` grant per asset signed (counted against the asset's
    per-hour limit and the organization's bandwidth budget at the asset's full size); a URL is
    reused for the same asset while it has over two minutes to live.
    """
    global _default
    with _default_lock:
        if _default is None:
            from geopera.client import Geopera

            _default = Signer(Geopera())
        signer = _default
    return signer(obj)


__all__ = ["Signer", "sign_inplace", "REUSE_MARGIN_SECONDS"]
