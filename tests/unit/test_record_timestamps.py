"""Record timestamps are spelled as isoformat() does, with `Z` for UTC (records._iso)."""

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from geopera_stac_ext.domain.records import _iso


@given(st.datetimes(timezones=st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=10)), timezone(timedelta(hours=-3, minutes=-30))])))
def test_record_timestamps_are_isoformat_with_z_for_utc(value: datetime) -> None:
    assert _iso(value) == value.isoformat().replace("+00:00", "Z")


def test_record_timestamps_keep_naive_values_and_none() -> None:
    assert _iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert _iso(datetime(2026, 1, 2, 3, 4, 5, 70, tzinfo=timezone.utc)) == \
        "2026-01-02T03:04:05.000070Z"
    assert _iso(None) is None
