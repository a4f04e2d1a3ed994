"""What DAG files import: the authoring model, params, the task context, templating.
Runs in parsers, workers and `brisa dags test`; never in the scheduler or the API."""
