"""The DAG processor: per-repository pipelines, parsing DAG files in child processes,
storing serialized DAGs and import errors."""
