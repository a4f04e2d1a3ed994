"""The Kubernetes executor: one pod per attempt (docs/kubernetes.md, ADR 0015).

Nothing here is imported in local mode or by the worker.
"""
