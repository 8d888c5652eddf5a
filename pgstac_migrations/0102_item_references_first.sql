-- Lock order: 0101's items → projects/collections check fires first among the statement
-- triggers of an INSERT on geopera.items, where the foreign keys' checks ran.
-- NOTE: triggers of one event fire in name order; the foreign keys' (RI_ConstraintTrigger_…,
-- row-level) ran before item_counts_ins_trg, so an insert took its FOR KEY SHARE locks on the
-- project and collection before locking a counter row. Named items_refs_insert_trg, the set-based
-- check ran after item_counts_ins_trg: the same locks in the other order, a deadlock a
-- collections.delete (FOR UPDATE on the collection, then counters) could meet. The migration
-- runs in one transaction, so no insert sees the table without the check.
DROP TRIGGER IF EXISTS items_refs_insert_trg ON geopera.items;
CREATE OR REPLACE TRIGGER fk_items_refs_insert_trg AFTER INSERT ON geopera.items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION geopera.items_refs_insert();
