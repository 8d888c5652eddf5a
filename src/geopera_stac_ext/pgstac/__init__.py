"""The adapter to pgstac's own tables and functions: the one place that knows pgstac internals."""
