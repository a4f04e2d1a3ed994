"""Brisa's benchmark suite: `python -m bench [--quick]` (or `make bench [QUICK=1]`).

Timings live here, never in the test suite. Each workload runs several times against a fresh
`brisa standalone` (or, for the scheduler at scale, an in-process scheduler); the driver
reports min / median / max per figure beside the budgets of the design document.
"""
