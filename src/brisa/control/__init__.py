"""The control plane: what people (commands, queries) and workers (execution) ask for.

The REST API, the web UI and the CLI reach the store only through here. Every query and
command takes the caller's team `Scope` (`control.queries`), whose `sees` is the one rule for
which teams a caller may see and act on.
"""
