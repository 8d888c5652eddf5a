-- CQL2 helpers for the search engine (search/cql2sql.py).
-- ACCENTI(...) compares through unaccent(), as pgstac's cql2_ops template does.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;

CREATE OR REPLACE FUNCTION geopera.cql2_unaccent(t text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = public, pg_catalog AS $$
    SELECT unaccent(t)
$$;

-- A timestamp stored in an item's JSON properties, as a temporal operand or compared with a
-- TIMESTAMP literal. NOTE: a value that is not a timestamp string is unknown (NULL) for that
-- item, rather than failing the whole search as pgstac's to_tstz cast does.
CREATE OR REPLACE FUNCTION geopera.cql2_tstz(j jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET timezone = 'UTC' AS $$
BEGIN
    IF jsonb_typeof(j) IS DISTINCT FROM 'string' THEN
        RETURN NULL;
    END IF;
    RETURN (j #>> '{}')::timestamptz;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$$;
