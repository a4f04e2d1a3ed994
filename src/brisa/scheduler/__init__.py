"""The scheduler: the loop (`loop`) and the leases that let several share a database (`ha`)."""

from brisa.scheduler.loop import Clock, Scheduler, awake_seconds

__all__ = ["Clock", "Scheduler", "awake_seconds"]
