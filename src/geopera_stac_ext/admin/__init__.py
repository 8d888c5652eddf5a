"""Operator commands run against the database directly: listings, recovery, the audit trail."""
