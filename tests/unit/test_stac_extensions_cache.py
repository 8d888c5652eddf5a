"""stac_extensions lists the schemas of an Item's field prefixes; the cache behind it keeps only
small property-name sets (names are the tenant's)."""

from geopera_stac_ext.domain import stac_feature as sf

EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
VIEW = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"


def test_extensions_name_each_known_prefix_once_sorted_and_asset_fields() -> None:
    props = {"eo:cloud_cover": 1, "view:off_nadir": 2, "eo:bands": [], "plain": 3, "x:y": 4}
    assert sf.extensions_for(props, False, False) == [EO, VIEW]
    assert sf.extensions_for(props, True, True) == sorted(
        [sf.AUTH_EXTENSION, EO, FILE, VIEW])
    assert sf.extensions_for({}, True, False) == [sf.AUTH_EXTENSION]


def test_large_or_many_property_name_sets_do_not_grow_the_cache() -> None:
    before = sf._cached_schemas.cache_info().currsize
    for n in range(50):
        props = {f"tenant{n}:k{i}": i for i in range(sf.CACHED_KEYS + 1)}
        props["view:off_nadir"] = 1
        assert sf.extensions_for(props, False, False) == [VIEW]
    assert sf._cached_schemas.cache_info().currsize == before
    for n in range(2000):
        sf.extensions_for({f"p{n}:a": 1}, False, False)
    assert sf._cached_schemas.cache_info().currsize <= 512
