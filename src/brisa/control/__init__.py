"""The control plane: what people (commands, queries) and workers (execution) ask for."""
