"""`brisa task run`: the one code path of every attempt. Imports no web framework, ORM
or CLI library (import-linter checks the whole package)."""
