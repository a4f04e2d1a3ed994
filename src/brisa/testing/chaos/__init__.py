"""The chaos suite: several schedulers on one PostgreSQL under faults, checked afterwards.

- `checker`: pure checks over the transition record and the tasks' own witness file;
- `postgres`: a PostgreSQL cluster of its own (Debian's binaries) that may be restarted;
- `proxy`: a TCP proxy on 127.0.0.1 that can cut every connection through it;
- `cluster`: the Brisa processes (schedulers, API, DAG processor) and their DAG;
- `faults`: the faults, chosen at random;
- `run`: the driver and its report (`python -m brisa.testing.chaos`, `make chaos`).

See docs/operations.md, "The chaos suite".
"""
