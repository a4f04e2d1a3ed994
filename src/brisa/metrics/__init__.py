"""What a running process tells about itself: Prometheus metrics (`instruments` for what is
counted where it happens, `collector` for what is read from the database at scrape time),
health checks (`health`) and the small HTTP server of the processes that serve no API
(`server`). `monitor` puts them together for one process. See docs/operations.md ("Metrics",
"Health endpoints") and docs/adr/0021-metrics-and-health.md.

The only package that imports prometheus_client (an import-linter contract): the loops call
plain methods of the objects here."""
