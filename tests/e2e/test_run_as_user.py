"""`[executor] run_as_user` for real (ADR 0008): a standalone running as root runs its tasks as
a throwaway user made for the test. The task runs as that user (uid, gid, groups, HOME) and
cannot read Brisa's state: the database, the secret key, the spool and log folders; its
result, return value and log still reach the server.

Needs root (CI runs as root); skipped otherwise."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.standalone import Standalone

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="running tasks as another user needs root and useradd (CI runs as root)",
)

PROBE = """
    import json, os
    from pathlib import Path
    from brisa import DAG, task

    OUT = Path({out!r})
    HOME = Path({home!r})

    def attempt(path, read):
        try:
            read(path)
        except PermissionError:
            return "denied"
        except OSError as exc:
            return type(exc).__name__
        return "read"

    with DAG("probe", schedule=None, retries=0):
        @task
        def probe():
            seen = {{
                "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                "groups": sorted(os.getgroups()), "home": os.environ.get("HOME"),
                "reads": {{
                    name: attempt(HOME / name, Path.read_bytes)
                    for name in ("brisa.db", "secret_key")
                }},
                "lists": {{
                    name: attempt(HOME / name, lambda p: list(p.iterdir()))
                    for name in ("spool", "logs", "workers", ".")
                }},
            }}
            (OUT / "probe.json").write_text(json.dumps(seen))
            print("probe ran")
            return seen["uid"]
        probe()
    """


@pytest.fixture
def task_user() -> Iterator[pwd.struct_passwd]:
    name = f"brisa-t{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture
def world_root() -> Iterator[Path]:
    """A folder the task user can traverse (pytest's own tmp folders are root's, mode 0700)."""
    root = Path(tempfile.mkdtemp(prefix="brisa-runas-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_tasks_run_as_the_task_user_and_cannot_read_brisas_state(
    task_user: pwd.struct_passwd, world_root: Path, start_method: str
) -> None:
    home, out = world_root / "home", world_root / "out"
    out.mkdir()
    out.chmod(0o777)
    env = {
        "BRISA__EXECUTOR__RUN_AS_USER": task_user.pw_name,
        "BRISA__EXECUTOR__START_METHOD": start_method,
    }
    brisa = Standalone(home, env=env, copy_examples=False).start()
    try:
        (brisa.dags / "probe.py").write_text(
            textwrap.dedent(PROBE).format(out=str(out), home=str(home))
        )
        brisa.dags.chmod(0o755)
        brisa.wait_for_dag("probe")
        run = brisa.trigger("probe")
        finished = brisa.wait_for_run("probe", run["run_id"])
        path = f"{brisa.dag_path('probe')}/runs/{run['run_id']}/tasks/probe"
        detail = brisa.get(path)
        assert finished["state"] == "success", detail
        log = brisa.whole_log(path)
    finally:
        brisa.stop()

    seen = json.loads((out / "probe.json").read_text())
    assert (seen["uid"], seen["euid"], seen["gid"]) == (task_user.pw_uid,) * 2 + (task_user.pw_gid,)
    assert seen["groups"] == sorted(os.getgrouplist(task_user.pw_name, task_user.pw_gid))
    assert seen["home"] == task_user.pw_dir
    assert seen["reads"] == {"brisa.db": "denied", "secret_key": "denied"}
    assert seen["lists"] == dict.fromkeys(("spool", "logs", "workers", "."), "denied")
    assert detail["return_value"] == task_user.pw_uid  # the result reached the server
    assert "probe ran" in json.dumps(log)  # and the log, shipped by the log process


def test_a_user_that_does_not_exist_is_refused_at_start_up(tmp_path: Path) -> None:
    env = {"BRISA__EXECUTOR__RUN_AS_USER": "no-such-user-brisa-7361"}
    brisa = Standalone(tmp_path / "home", env=env, copy_examples=False)
    with pytest.raises(RuntimeError, match=r"run_as_user = 'no-such-user-brisa-7361': no such"):
        brisa.start(timeout=10)
