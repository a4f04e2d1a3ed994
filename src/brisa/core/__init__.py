"""The pure core: specs, records, states, schedules, trigger rules, retries, the planner,
tokens and webhook signatures. Imports no I/O layer (import-linter checks the package)."""
