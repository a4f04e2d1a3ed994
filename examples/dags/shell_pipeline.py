"""A shell pipeline with params: download, count words, report.

Commands are templated with {{ params.* }}, {{ ds }} and {{ run_id }}.
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
        "for i in $(seq {{ params.repeat }}); do echo '{{ params.greeting }} world'; done "
        "> /tmp/brisa-example/{{ ds }}.txt",
    )
    count = shell("count", "wc -w < /tmp/brisa-example/{{ ds }}.txt")
    report = shell("report", "echo \"run {{ run_id }} on {{ ds }}: done\"")
    generate >> count >> report
