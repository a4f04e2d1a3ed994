"""ETL: extract orders, transform them, load a daily summary.

Return values flow between Python tasks: each function receives what its upstream returned.
"""

from datetime import datetime, timedelta

from brisa import DAG, Param, get_current_context, task

with DAG(
    "etl_orders",
    schedule="0 3 * * *",
    timezone="Europe/Berlin",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"min_amount": Param(10.0, type="number", minimum=0, description="Ignore smaller orders")},
    retries=1,
    retry_delay=timedelta(seconds=5),
    tags=["etl", "example"],
    description="Daily order summary: extract -> transform -> load",
):

    @task
    def extract() -> list[dict]:
        ctx = get_current_context()
        print(f"extracting orders for {ctx.ds}")
        return [
            {"id": 1, "customer": "ada", "amount": 42.0},
            {"id": 2, "customer": "bob", "amount": 7.5},
            {"id": 3, "customer": "ada", "amount": 18.25},
        ]

    @task
    def transform(orders: list[dict], context) -> dict:
        floor = context.params["min_amount"]
        totals: dict[str, float] = {}
        for order in orders:
            if order["amount"] >= floor:
                totals[order["customer"]] = totals.get(order["customer"], 0) + order["amount"]
        print(f"{len(totals)} customers above {floor}")
        return totals

    @task
    def load(totals: dict) -> int:
        for customer, amount in sorted(totals.items()):
            print(f"{customer}: {amount:.2f}")
        return len(totals)

    load(transform(extract()))
