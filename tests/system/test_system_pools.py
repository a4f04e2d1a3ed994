"""Pools end to end in one process: tasks naming a pool start only while it has free slots,
people see its use and who waits (REST, web page, why waiting), and change it through the API.
Hanging fake workers stand for tasks that are still running."""

from __future__ import annotations

import pytest

from brisa import DAG, shell
from brisa.testing.fakes import Hang, Succeed
from system.inprocess import ApiFailed, InProcess

POOLS = "/api/v1/teams/default/pools"


def gpu_dag(width: int = 5, **options: object) -> DAG:
    with DAG("train", **{"pool": "gpu", **options}) as dag:  # type: ignore[arg-type]
        for n in range(width):
            shell(f"t{n}", "true")
    return dag


def running(brisa: InProcess) -> list[str]:
    return sorted(t for t, (state, _) in brisa.states("train").items() if state == "running")


def hang_all(brisa: InProcess, width: int) -> None:
    for n in range(width):
        brisa.executor.script(f"t{n}", Hang())


def test_a_pool_runs_at_most_its_slots_and_shows_who_waits(brisa: InProcess) -> None:
    brisa.publish(gpu_dag())
    hang_all(brisa, 5)
    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 2, "description": "two GPUs"})
    brisa.trigger("train")
    brisa.settle()

    assert running(brisa) == ["t0", "t1"]
    pools = brisa.request("GET", POOLS)
    assert [p["name"] for p in pools["pools"]] == ["default_pool", "gpu"]
    gpu = pools["pools"][1]
    assert (gpu["slots"], gpu["used"], gpu["running"], gpu["open"], gpu["waiting"]) == (
        2,
        2,
        2,
        0,
        3,
    )
    detail = brisa.request("GET", f"{POOLS}/gpu")
    assert [h["task_id"] for h in detail["holders"]] == ["t0", "t1"]
    assert [w["task_id"] for w in detail["waiting_tasks"]] == ["t2", "t3", "t4"]
    attempt = brisa.request("GET", f"{brisa.run_path('train', 'r1')}/tasks/t2/attempts/1")
    assert attempt["waiting"] == ["waiting for a slot in pool gpu (2 of 2 used)"]
    held = [(h["task_id"], h["try_number"], h["state"]) for h in attempt["held_by"]]
    assert held == [("t0", 1, "running"), ("t1", 1, "running")]

    brisa.executor.report("t0", Succeed())
    brisa.settle()
    assert running(brisa) == ["t1", "t2"], "a freed slot goes to the next task"

    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 4})
    brisa.settle()
    assert running(brisa) == ["t1", "t2", "t3", "t4"]
    assert brisa.request("GET", f"{POOLS}/gpu")["description"] == "two GPUs", "kept"


def test_a_dag_at_its_task_limit_says_so_and_names_no_holder(brisa: InProcess) -> None:
    """Why waiting names the DAG's max_active_tasks when that is what holds a ready task."""
    brisa.publish(gpu_dag(3, pool=None, max_active_tasks=2))
    hang_all(brisa, 3)
    brisa.trigger("train")
    brisa.settle()
    assert running(brisa) == ["t0", "t1"]
    attempt = brisa.request("GET", f"{brisa.run_path('train', 'r1')}/tasks/t2/attempts/1")
    assert attempt["waiting"] == [
        "DAG train allows 2 running tasks at once (max_active_tasks) and 2 are queued or"
        " running: waiting for one of them to finish"
    ]
    assert attempt["held_by"] == []


def test_shrinking_a_pool_lets_its_tasks_finish_and_starts_none_until_under_size(
    brisa: InProcess,
) -> None:
    brisa.publish(gpu_dag(4))
    hang_all(brisa, 4)
    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 3})
    brisa.trigger("train")
    brisa.settle()
    assert running(brisa) == ["t0", "t1", "t2"]

    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 1})
    for done in ("t0", "t1"):
        brisa.executor.report(done, Succeed())
        brisa.settle()
        assert "t3" not in running(brisa)
    brisa.executor.report("t2", Succeed())
    brisa.settle()
    assert running(brisa) == ["t3"]


def test_a_task_of_a_pool_that_does_not_exist_waits_and_says_how_to_create_it(
    brisa: InProcess,
) -> None:
    brisa.publish(gpu_dag(1))
    brisa.trigger("train")
    brisa.settle()

    assert brisa.states("train") == {"t0": ("pending", 0)}, "it waits; it does not fail"
    assert brisa.request("GET", POOLS)["missing"] == {"gpu": 1}
    attempt = brisa.request("GET", f"{brisa.run_path('train', 'r1')}/tasks/t0/attempts/1")
    assert attempt["waiting"] == [
        "pool gpu does not exist in team default: create it with "
        "`brisa pools set default gpu --slots N`"
    ]
    page = brisa.api.get("/teams/default/dags/train/runs/r1/tasks/t0")
    assert "pool gpu does not exist in team default" in page.text

    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 1})
    brisa.settle()
    assert brisa.states("train") == {"t0": ("success", 1)}


def test_a_task_of_several_slots_waits_for_all_of_them(brisa: InProcess) -> None:
    with DAG("train") as dag:
        big = shell("big", "true", pool="gpu", pool_slots=2)
        small = shell("small", "true", pool="gpu")
    del big, small
    brisa.publish(dag)
    brisa.executor.script("small", Hang())
    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 2})
    brisa.trigger("train")
    brisa.settle()
    # Oldest first by task id: "big" takes both slots, "small" waits for it.
    assert brisa.states("train") == {"big": ("success", 1), "small": ("running", 1)}


def test_the_default_pool_holds_tasks_without_a_pool(brisa: InProcess) -> None:
    brisa.publish(gpu_dag(3, pool=None))
    hang_all(brisa, 3)
    brisa.request("PUT", f"{POOLS}/default_pool", {"slots": 1})
    brisa.trigger("train")
    brisa.settle()
    assert running(brisa) == ["t0"]
    default = brisa.request("GET", f"{POOLS}/default_pool")
    assert (default["configured"], default["waiting"]) == (True, 2)

    answer = brisa.api.delete(f"{POOLS}/default_pool", headers={"Content-Type": "application/json"})
    assert answer.status_code == 204
    brisa.settle()
    assert running(brisa) == ["t0", "t1", "t2"], "back to [pools] default_slots (128)"
    assert brisa.request("GET", f"{POOLS}/default_pool")["configured"] is False


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (f"{POOLS}/gpu", {"slots": -1}, 400, "slots: Input should be greater than or equal to 0"),
        (f"{POOLS}/gpu", {"slots": "many"}, 400, "slots"),
        (f"{POOLS}/gpu", {"slots": 1, "colour": "red"}, 400, "colour"),
        (f"{POOLS}/-bad", {"slots": 1}, 400, "letters, digits"),
        ("/api/v1/teams/nobody/pools/gpu", {"slots": 1}, 404, "no team 'nobody'; the teams are"),
    ],
)
def test_bad_pool_changes_are_refused_with_what_to_do(
    brisa: InProcess, path: str, body: object, status: int, words: str
) -> None:
    brisa.publish(gpu_dag(1))
    with pytest.raises(ApiFailed) as failed:
        brisa.request("PUT", path, body)
    assert failed.value.status == status
    assert words in failed.value.detail


def test_unknown_pools_and_teams_answer_404(brisa: InProcess) -> None:
    brisa.publish(gpu_dag(1))
    with pytest.raises(ApiFailed, match="brisa pools set default gpu --slots N") as failed:
        brisa.request("GET", f"{POOLS}/gpu")
    assert failed.value.status == 404
    with pytest.raises(ApiFailed, match="no team 'nobody'"):
        brisa.request("GET", "/api/v1/teams/nobody/pools")
    answer = brisa.api.delete(f"{POOLS}/gpu", headers={"Content-Type": "application/json"})
    assert answer.status_code == 404


def test_the_pools_page_shows_use_and_who_waits(brisa: InProcess) -> None:
    brisa.publish(gpu_dag(3))
    hang_all(brisa, 3)
    brisa.request("PUT", f"{POOLS}/gpu", {"slots": 1, "description": "one GPU"})
    brisa.trigger("train")
    brisa.settle()

    page = brisa.api.get("/teams/default/pools?pool=gpu")
    assert page.status_code == 200
    assert "1 of 1" in page.text and "one GPU" in page.text
    assert 'id="pool-waiting"' in page.text and ">t2</a>" in page.text
    assert '<a href="/pools"' in brisa.api.get("/pools").text, "in the navigation"
    panel = brisa.api.get("/teams/default/dags/train/runs/r1/tasks/t1")
    assert "waiting for a slot in pool gpu (1 of 1 used)" in panel.text
