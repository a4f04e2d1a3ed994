"""The local executor: one process per attempt on this machine (fork server, warm imports,
isolation)."""
