"""Run one task in this process: call the Python function or the shell command.

Shared by the worker (`brisa task run`) and `brisa dags test`. Imports user code only for
Python tasks; shell tasks run from the stored spec alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brisa import templating
from brisa.context import TaskContext, pop_context, push_context
from brisa.errors import BrisaError


@dataclass(frozen=True)
class Outcome:
    success: bool
    return_value: Any = None
    error: str | None = None


def _bound(binding: dict[str, Any], upstream: dict[str, Any]) -> Any:
    return upstream.get(binding["ref"]) if "ref" in binding else binding["value"]


def run_python(
    fn: Any, task: dict[str, Any], ctx: TaskContext, upstream: dict[str, Any]
) -> Outcome:
    args = [_bound(b, upstream) for b in task.get("args", [])]
    kwargs = {k: _bound(b, upstream) for k, b in task.get("kwargs", {}).items()}
    if (
        getattr(fn, "__code__", None)
        and "context"
        in fn.__code__.co_varnames[: fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount]
    ):
        kwargs["context"] = ctx
    push_context(ctx)
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the task's own failure, reported not raised
        traceback.print_exc()
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    finally:
        pop_context()
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return Outcome(False, error=f"return value is not JSON-serialisable: {exc}")
    return Outcome(True, value)


def run_shell(task: dict[str, Any], ctx: TaskContext, cwd: Path | None) -> Outcome:
    variables = ctx.template_vars()
    try:
        command = templating.render(task["command"], variables)
        env = {k: templating.render(v, variables) for k, v in task.get("env", {}).items()}
    except BrisaError as exc:
        return Outcome(False, error=str(exc))
    env = {
        **os.environ,
        **env,
        "BRISA_RUN_ID": ctx.run_id,
        "BRISA_TASK_ID": ctx.task_id,
        "BRISA_DS": ctx.ds,
        "BRISA_PARAMS": json.dumps(ctx.params),
    }
    print(f"$ {command}", flush=True)
    workdir = task.get("cwd") or (str(cwd) if cwd else None)
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
    )
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line.rstrip("\n")
    code = proc.wait()
    if code != 0:
        return Outcome(False, error=f"command exited with code {code}")
    return Outcome(True, last)
