"""Executors start `brisa task run` somewhere (a local process, later a pod) and can tell,
from the outside world, which attempts still have a live worker."""

from brisa.executor.base import Executor, LaunchRequest

__all__ = ["Executor", "LaunchRequest"]
