"""What user code can read of Brisa's configuration: a standalone configured through
`BRISA__*` variables (its secret key, a database URL) and `BRISA_HOME` runs tasks whose
environment holds none of them, with either way of starting workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.standalone import Standalone

SECRET_KEY = "core-secret-key-value-2718"
DB_SECRET = "db-name-secret-3141"
GIT_TOKEN = "git-token-canary-1618"  # a repository's password_env: the syncer's, not tasks'

DUMP = """
import json, os
from pathlib import Path
from brisa import DAG, shell, task

OUT = Path({out!r})

with DAG("env_dump", schedule=None, retries=0):
    @task
    def dump():
        OUT.mkdir(exist_ok=True)
        (OUT / "environ.json").write_text(json.dumps(dict(os.environ)))
        (OUT / "proc_environ").write_bytes(Path("/proc/self/environ").read_bytes())
    dump() >> shell("child", f"env > {{OUT / 'child.env'}}")
"""


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_tasks_see_no_brisa_settings_in_their_environment(
    tmp_path: Path, start_method: str
) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    env = {
        "BRISA__CORE__SECRET_KEY": SECRET_KEY,
        "BRISA__DATABASE__URL": f"sqlite:///{tmp_path / DB_SECRET}.db",
        "BRISA__EXECUTOR__START_METHOD": start_method,
        "PASSED_ON": "from-the-scheduler",
        "TEAM_GIT_TOKEN": GIT_TOKEN,
    }
    home.mkdir(parents=True)
    (home / "brisa.toml").write_text(  # nothing listens there: the sync fails, quickly
        '[repos.team]\nurl = "https://127.0.0.1:9/team.git"\npassword_env = "TEAM_GIT_TOKEN"\n'
    )
    brisa = Standalone(home, env=env, copy_examples=False).start()
    try:
        (brisa.dags / "env_dump.py").write_text(DUMP.format(out=str(out)))
        brisa.wait_for_dag("env_dump")
        run = brisa.trigger("env_dump")
        assert brisa.wait_for_run("env_dump", run["run_id"])["state"] == "success"
    finally:
        brisa.stop()

    environ = json.loads((out / "environ.json").read_text())
    assert [name for name in environ if name.startswith("BRISA__")] == []
    assert "BRISA_HOME" not in environ  # where the server keeps its state (ADR 0008)
    assert environ["PASSED_ON"] == "from-the-scheduler"  # the rest is passed on
    seen = {
        "os.environ": "\n".join(f"{k}={v}" for k, v in environ.items()),
        "/proc/self/environ": (out / "proc_environ").read_bytes().decode(errors="replace"),
        "a child process": (out / "child.env").read_text(),
    }
    for where, text in seen.items():
        for secret in ("BRISA__", "BRISA_HOME", "BRISA_EXECUTION_TOKEN=", SECRET_KEY, DB_SECRET,
                       "TEAM_GIT_TOKEN", GIT_TOKEN):  # fmt: skip
            assert secret not in text, f"{secret} is readable from {where}"
