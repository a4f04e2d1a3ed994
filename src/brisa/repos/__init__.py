"""Git-synced DAG repositories: configuration, the git runner, snapshots and the syncer.

Kept empty so that the worker can import `brisa.repos.layout` without the syncer."""
