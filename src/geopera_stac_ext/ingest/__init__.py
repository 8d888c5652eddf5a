"""The bulk loader (`geopera-stac load`): validate, encode, plan, write, and its CLI command."""
