"""Task logs: capture, masking and shipping on the worker side; layout, reading, recovery
of dead workers' logs and retention on the server side."""
