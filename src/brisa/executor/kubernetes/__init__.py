"""The Kubernetes executor: one bare pod per attempt (docs/kubernetes.md, ADR 0018).

Nothing here is imported in local mode or by the worker.
"""
