"""Item lifecycle and retention: the job that advances due items, plan changes, billing usage."""
