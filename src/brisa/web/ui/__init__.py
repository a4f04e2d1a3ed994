"""The web UI: server-rendered pages (Jinja2) with htmx fragments, served by `brisa api`.

A page URL is the REST path without `/api/v1`; fragments live under `/_/`. Pages read through
the control plane (`control.queries`), the same functions the REST API calls, and check the
team of what they show through `access.scope_of` (docs/ui.md, ADR 0016).
"""
