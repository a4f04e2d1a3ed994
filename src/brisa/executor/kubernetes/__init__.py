"""The Kubernetes executor: one bare pod per attempt (docs/kubernetes.md)."""
