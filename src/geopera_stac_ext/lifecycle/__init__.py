"""Item lifecycle and retention: policy, the job, and the plan-change hook (registered here)."""

from geopera_stac_ext.lifecycle.job import register_plan_hook

# NOTE: registered on import so every entry point that can change a plan (CLI, app, tests)
# re-activates items on upgrade; ops/items imports domain.retention, so the app always has it.
register_plan_hook()
