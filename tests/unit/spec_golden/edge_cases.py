"""Hand-made edge cases for the golden spec test (a DAG file of its own)."""

from datetime import UTC, datetime, timedelta

from brisa import DAG, Param, TriggerRule, shell, task


@task
def produce() -> dict[str, int]:
    return {"n": 1}


@task
def gather(items: list[object], by_name: dict[str, object], first: object) -> None:
    pass


@task(retries=2, retry_exponential_backoff=True, max_retry_delay=timedelta(minutes=5))
def consume(data: dict[str, int], scale: float, *, label: str = "x", note: object = None) -> None:
    pass


with DAG(
    "edge_interval",
    schedule=timedelta(minutes=90),
    start_date=datetime(2026, 1, 1, 3, 4, 5, 123456, tzinfo=UTC),
    end_date=datetime(2027, 6, 30, tzinfo=UTC),
    catchup=True,
    dagrun_timeout=timedelta(hours=2),
    execution_timeout=600,
    max_active_runs=1,
    max_active_tasks=3,
    tags=["z", "a", "ünï"],
    description="every kind of field",
    params={
        "token": Param(default="s3cr3t-value", secret=True, description="a secret"),
        "level": Param(default=2, enum=(1, 2, 3)),
        "ratio": Param(default=0.5, minimum=0, maximum=1.5, type="number"),
        "nothing": Param(default=None),
        "items": [1, "two", {"three": 3.0}],
        "flag": False,
    },
):
    first = produce()
    second = consume(first, 2.5, label="y", note=None)
    notify = shell(
        "notify",
        "echo 'é' {{ params.level | shquote }} && echo \"$X\"",
        env={"X": "1", "A": "{{ ds }}"},
        cwd="/tmp",
        trigger_rule=TriggerRule.ALL_DONE,
        retry_delay=0,
        doc="tells people",
    )
    second >> notify
    gather([first, second], {"z": notify, "a": first}, first)

with DAG("edge_manual", params={"table": Param(type="string")}, timezone="Asia/Kolkata"):
    shell("only", "true")

with DAG(
    "edge_cron",
    schedule="@weekly",
    timezone="America/Sao_Paulo",
    start_date=datetime(2026, 3, 1),
    retries=1,
    retry_delay=timedelta(seconds=12.5),
):
    a = shell("a", "true", execution_timeout=timedelta(milliseconds=1500))
    b = shell("b", "false", trigger_rule="one_failed")
    c = shell("c", "true", trigger_rule="none_failed", retries=0)
    a >> b >> c
    [a, b] >> shell("d", "true")
