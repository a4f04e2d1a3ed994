"""A task that fails on its first tries and succeeds on the third: retries with backoff.

`always_fails` shows what a permanent failure looks like, and `notify_failure` runs only
when something upstream failed (trigger rule one_failed).
"""

from datetime import timedelta

from brisa import DAG, TriggerRule, get_current_context, task

with DAG(
    "flaky_with_retries",
    retries=3,
    retry_delay=timedelta(seconds=1),
    retry_exponential_backoff=True,
    tags=["example", "retries"],
    description="Retries with exponential backoff, and an alert on failure",
    params={"fail_for_good": False},
):

    @task
    def flaky() -> str:
        try_number = get_current_context().try_number
        if try_number < 3:
            raise RuntimeError(f"transient error on try {try_number}")
        return f"succeeded on try {try_number}"

    @task(retries=0)
    def maybe_fail(previous: str) -> str:
        if get_current_context().params["fail_for_good"]:
            raise ValueError("asked to fail (param fail_for_good)")
        return previous

    @task(trigger_rule=TriggerRule.ONE_FAILED)
    def notify_failure() -> None:
        print("something failed upstream: an alert would be sent here")

    result = maybe_fail(flaky())
    result >> notify_failure()
