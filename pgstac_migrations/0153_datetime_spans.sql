-- A datetime window's bounded index range: rows with a time span (end_datetime <> datetime) in
-- a small partial index of every pgstac partition (present and future: declared on the parent).
-- NOTE: a window [lo, hi] matches `datetime <= hi AND end_datetime >= lo`. pgstac's index
-- (datetime DESC, end_datetime) bounds that scan only above: it read every entry from hi down
-- to the partition's first datetime, checking end_datetime >= lo on each (a 6-day window in
-- the third year of a 3-year catalog read ~2/3 of each partition's index). The search adds the
-- implied `(end_datetime = datetime AND datetime >= lo) OR end_datetime <> datetime`
-- (search/where.py): instants then come from the bounded range [lo, hi] of pgstac's index and
-- spanned rows from this one, which stays empty for catalogs of instants (most imagery).
CREATE INDEX IF NOT EXISTS items_span_datetime_idx
    ON pgstac.items (datetime DESC, end_datetime) WHERE end_datetime <> datetime;
