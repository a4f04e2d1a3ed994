"""The bench's `brisa standalone`: the one harness the tests use too (`brisa.testing.server`):
its own home, DAG folder and port, a small REST client, the list of its processes, and a stop
that leaves nothing behind."""

from brisa.testing.server import FINISHED, ApiError, Standalone, free_port, wait_until

__all__ = ["FINISHED", "ApiError", "Standalone", "free_port", "wait_until"]
