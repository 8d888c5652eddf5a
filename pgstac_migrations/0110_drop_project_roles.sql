-- Drop the unused geopera.project_roles view (0001): nothing reads it; access decisions use
-- auth/guard.py's membership rule and geopera.role_rank. Idempotent.
DROP VIEW IF EXISTS geopera.project_roles;
