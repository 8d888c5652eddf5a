"""`serve --demo`: the demo tenant, its items and the real imagery they point at."""
