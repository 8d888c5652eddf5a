"""The one adapter for every pgstac table and function this service touches (pgstac 0.10)."""
