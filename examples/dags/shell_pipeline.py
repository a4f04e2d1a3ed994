"""A shell pipeline with params: generate a file, count its words, report.

Commands are templated with {{ params.x | shquote }}, {{ ds }} and {{ run_id }}. Params come
from whoever triggers a run, so they go into a command quoted by `shquote`, outside any quotes
of the command's own; Brisa refuses the DAG otherwise.
"""

from datetime import datetime, timedelta

from brisa import DAG, Param, shell

with DAG(
    "shell_pipeline",
    schedule=timedelta(hours=6),
    start_date=datetime(2026, 1, 1),
    params={
        "greeting": Param("hello", type="string"),
        "repeat": Param(3, type="integer", minimum=1, maximum=100),
    },
    execution_timeout=timedelta(minutes=5),
    tags=["shell", "example"],
    description="Generate a file, count its words, report",
):
    generate = shell(
        "generate",
        "mkdir -p /tmp/brisa-example && "
        "for i in $(seq {{ params.repeat | shquote }}); do "
        "echo {{ params.greeting | shquote }} world; done "
        "> /tmp/brisa-example/{{ ds }}.txt",
    )
    count = shell("count", "wc -w < /tmp/brisa-example/{{ ds }}.txt")
    report = shell("report", "echo \"run {{ run_id }} on {{ ds }}: done\"")
    generate >> count >> report
