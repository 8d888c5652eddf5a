"""Advisory lock keys live in db/locks.py only, and no two locks the service takes can collide."""

import re
from pathlib import Path

from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.db import locks

SRC = Path(__file__).resolve().parents[2] / "src" / "geopera_stac_ext"


def test_bigint_keys_are_distinct():
    assert len(set(locks.BIGINT_KEYS.values())) == len(locks.BIGINT_KEYS)


def test_two_int_classes_are_distinct_and_outside_the_search_slot_range():
    classes = list(locks.TWO_INT_CLASSES.values())
    assert len(set(classes)) == len(classes)
    slots = range(locks.SLOT_NAMESPACE, locks.SLOT_NAMESPACE + locks.SEARCH_SLOTS_MAX)
    assert not [c for c in classes if c in slots]


def test_the_search_slot_range_covers_every_allowed_per_user_limit():
    field = Settings.model_fields["search_concurrency_per_user"]
    le = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    assert le <= locks.SEARCH_SLOTS_MAX


def test_no_module_but_db_locks_spells_a_lock_key():
    # NOTE: every key is in the 0x6765… range; a literal of it elsewhere is a second source.
    key = re.compile(r"0x6765", re.IGNORECASE)
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "locks.py" and key.search(p.read_text())]
    assert not offenders, offenders
