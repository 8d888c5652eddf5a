"""The bottom layer: errors, settings, field types, JSON safety, secret files, log redaction."""
