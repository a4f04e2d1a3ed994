"""Test support shared by the test suites and the benchmarks: a fake clock and a fake
executor (`fakes.py`), and a real `brisa standalone` in a subprocess (`server.py`).

Production code never imports this package: it is the top layer of the layer rule
(`pyproject.toml`), so nothing in Brisa may depend on it.
"""
