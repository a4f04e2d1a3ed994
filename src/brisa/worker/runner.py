"""Run one task in this process: call the Python function or the shell command.

Shared by the worker (`brisa task run`) and `brisa dags test`. Imports user code only for
Python tasks; shell tasks run from the stored spec alone.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brisa.authoring import templating
from brisa.authoring.context import TaskContext, pop_context, push_context
from brisa.core.spec import PythonCall, ShellCommand
from brisa.errors import BrisaError


@dataclass(frozen=True)
class Outcome:
    success: bool
    return_value: Any = None
    error: str | None = None
    exit_code: int | None = None  # a shell task's command's, when it failed


def run_python(fn: Any, call: PythonCall, ctx: TaskContext, upstream: dict[str, Any]) -> Outcome:
    args = [b.resolve(upstream) for b in call.args]
    kwargs = {k: b.resolve(upstream) for k, b in call.kwargs.items()}
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


def shell_env(shell: ShellCommand, ctx: TaskContext) -> dict[str, str]:
    """The `env` a shell task declares, templated (BrisaError for a bad template)."""
    variables = ctx.template_vars()
    return {k: templating.render(v, variables) for k, v in shell.env.items()}


def run_shell(shell: ShellCommand, ctx: TaskContext, cwd: Path | None) -> Outcome:
    try:
        command = templating.render_shell(shell.command, ctx.template_vars())
        env = shell_env(shell, ctx)
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
    workdir = shell.cwd or (str(cwd) if cwd else None)
    # stderr goes straight to ours; stdout comes through here for its last line (the
    # task's return value), copied in blocks as it comes: a chatty command costs few calls.
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command], env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=None
    )
    assert proc.stdout is not None
    with proc.stdout:
        last = _copy_output(proc.stdout.fileno(), _stdout_sink())
    code = proc.wait()
    if code != 0:
        return Outcome(False, error=f"command exited with code {code}", exit_code=code)
    return Outcome(True, last)


def _stdout_sink() -> Callable[[bytes], None]:
    """Writes bytes to our stdout: its file descriptor if it has one (after what Python
    buffered), else the text stream (e.g. when a test captures sys.stdout)."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return lambda data: print(decoder.decode(data), end="", flush=True)

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return write


def _copy_output(source: int, sink: Callable[[bytes], None]) -> str:
    """Copy everything from `source` to `sink`; return the last non-blank line."""
    last, partial = b"", bytearray()
    while block := os.read(source, 1 << 16):
        sink(block)
        newline = block.rfind(b"\n")
        if newline < 0:
            partial += block
            continue
        found = _last_line(bytes(partial) + block[:newline])
        last = found if found is not None else last
        partial = bytearray(block[newline + 1 :])
    if partial.strip():
        last = bytes(partial)
    return last.rstrip(b"\r").decode(errors="replace")


def _last_line(text: bytes) -> bytes | None:
    """The last non-blank line of newline-separated `text`, if any."""
    end = len(text)
    while end >= 0:
        start = text.rfind(b"\n", 0, end) + 1
        if text[start:end].strip():
            return text[start:end]
        end = start - 1
    return None
