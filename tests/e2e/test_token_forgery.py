"""A task cannot act for another team's attempt (ADR 0008).

A canary task tries every way a task on the same machine has to get another attempt's
execution token: compute it from the server's secret key (whose path it is told, as if it had
found `$BRISA_HOME`), read it from any process's `/proc/<pid>/environ` or `cmdline`. It then
calls the execution API's `finish` for the victim with a chosen return value. Every call must
be refused (401/403), the victim must stay running and, once released, finish with its own
value, which is what its downstream task receives.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from support.standalone import Standalone

FAST = {
    "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
    "BRISA__WORKER__HEARTBEAT_INTERVAL": "1s",
}

VICTIM = """
    import time
    from pathlib import Path
    from brisa import DAG, task

    OUT = Path({out!r})

    with DAG("victim", schedule=None, retries=0):
        @task
        def victim():
            while not (OUT / "release").exists():
                time.sleep(0.05)
            return "genuine"

        @task
        def consume(value):
            (OUT / "consumed.json").write_text(__import__("json").dumps(value))

        consume(victim())
    """

CANARY = """
    import hashlib, hmac, json, os, re, urllib.error, urllib.request
    from pathlib import Path
    from brisa import DAG, task

    OUT = Path({out!r})
    HOME = Path({home!r})  # as if found: the parent of any Brisa path a task can see

    def candidates(ti, try_number):
        found = {{}}
        key_file = HOME / "secret_key"
        if key_file.exists():  # the old scheme: HMAC(secret_key, "attempt:<ti>:<try>")
            key = key_file.read_text().strip()
            sig = hmac.new(key.encode(), f"attempt:{{ti}}:{{try_number}}".encode(), hashlib.sha256)
            found["secret_key"] = f"{{ti}}.{{try_number}}.{{sig.hexdigest()}}"
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            for part in ("environ", "cmdline"):
                try:
                    text = (proc / part).read_bytes().decode(errors="replace")
                except OSError:
                    continue
                for match in re.finditer(r"BRISA_EXECUTION_TOKEN=([^\\x00\\s]+)", text):
                    found[f"/proc/{{proc.name}}/{{part}}"] = match.group(1)
        return found

    def finish(api, ti, try_number, token):
        request = urllib.request.Request(
            f"{{api}}/execution/v1/attempts/{{ti}}/{{try_number}}/finish",
            data=json.dumps({{"state": "success", "return_value": "forged"}}).encode(),
            method="POST",
            headers={{"Authorization": f"Bearer {{token}}", "Content-Type": "application/json"}},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with DAG("canary", schedule=None, retries=0):
        @task
        def canary():
            target = json.loads((OUT / "target.json").read_text())
            tried = candidates(target["ti"], target["try"])
            statuses = {{
                where: finish(target["api"], target["ti"], target["try"], token)
                for where, token in tried.items()
            }}
            (OUT / "canary.json").write_text(json.dumps({{
                "statuses": statuses,
                "environ": sorted(os.environ),
            }}))
        canary()
    """


def task_state(brisa: Standalone, dag_id: str, run_id: str, task_id: str) -> str:
    tasks = brisa.get(f"{brisa.dag_path(dag_id)}/runs/{run_id}/tasks")["tasks"]
    return str(next(t["state"] for t in tasks if t["task_id"] == task_id))


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_a_task_cannot_finish_another_attempt(tmp_path: Path, start_method: str) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    out.mkdir()
    env = {**FAST, "BRISA__EXECUTOR__START_METHOD": start_method}
    brisa = Standalone(home, env=env, copy_examples=False).start()
    try:
        dags = brisa.dags
        (dags / "victim.py").write_text(textwrap.dedent(VICTIM).format(out=str(out)))
        (dags / "canary.py").write_text(
            textwrap.dedent(CANARY).format(out=str(out), home=str(home))
        )
        brisa.wait_for_dag("victim")
        brisa.wait_for_dag("canary")
        victim_run = brisa.trigger("victim")["run_id"]
        brisa.wait_until(
            lambda: task_state(brisa, "victim", victim_run, "victim") == "running",
            20,
            "the victim to run",
        )
        with sqlite3.connect(home / "brisa.db") as db:  # the test may look; tasks may not
            ti, try_number = db.execute(
                "SELECT id, try_number FROM task_instances WHERE task_id = 'victim'"
            ).fetchone()
        target = {"ti": ti, "try": try_number, "api": brisa.url}
        (out / "target.json").write_text(json.dumps(target))

        canary_run = brisa.trigger("canary")["run_id"]
        assert brisa.wait_for_run("canary", canary_run)["state"] == "success"
        seen = json.loads((out / "canary.json").read_text())
        # The victim is untouched by whatever the canary tried ...
        assert task_state(brisa, "victim", victim_run, "victim") == "running"
        # ... and every token the canary could come up with was refused.
        assert seen["statuses"], "the canary found no token to try (the test cannot fail)"
        accepted = {k: v for k, v in seen["statuses"].items() if v not in (401, 403)}
        assert accepted == {}, f"tokens a task could get were accepted: {accepted}"
        assert "BRISA_HOME" not in seen["environ"]

        (out / "release").touch()
        run = brisa.wait_for_run("victim", victim_run)
        assert run["state"] == "success"
        assert json.loads((out / "consumed.json").read_text()) == "genuine"
    finally:
        (out / "release").touch()
        brisa.stop()
