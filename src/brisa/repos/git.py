"""The git CLI through subprocess: every call has a timeout that kills it (and whatever it
started), runs with a clean, prompt-free environment, and fails with a classified GitError
whose text never holds a credential.

Credentials reach git only through the environment of the git process (a credential helper
reads them from there), never through its arguments, a URL, or a file under the repository.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from brisa.errors import BrisaError

# Failure kinds: what the caller can do about it.
NETWORK, AUTH, NOT_FOUND, TIMEOUT, CORRUPT, OTHER = (
    "network",
    "auth",
    "not_found",
    "timeout",
    "corrupt",
    "other",
)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        AUTH,
        re.compile(
            r"authentication failed|could not read (username|password)|permission denied|"
            r"access denied|returned error: 40[13]|invalid username or password|"
            r"host key verification failed",
            re.I,
        ),
    ),
    (
        NOT_FOUND,
        re.compile(
            r"couldn't find remote ref|not our ref|no such remote ref|"
            r"repository .* not found|does not appear to be a git repository|"
            r"returned error: 404|unadvertised object|bad object|invalid refspec",
            re.I,
        ),
    ),
    (
        CORRUPT,
        re.compile(
            r"not a git repository|corrupt|bad config|fatal: (loose )?object .* is|"
            r"unable to read|index file|packfile .* does not match|bad signature|"
            r"fatal: bad object",
            re.I,
        ),
    ),
    (
        NETWORK,
        re.compile(
            r"could not resolve host|connection refused|connection timed out|"
            r"couldn't connect|failed to connect|unable to connect|network is unreachable|"
            r"connection reset|the remote end hung up|early eof|unable to look up|"
            r"operation timed out|ssl|tls",
            re.I,
        ),
    ),
]

_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)


class GitError(BrisaError):
    """A git command failed; `kind` says how (network, auth, not_found, timeout, ...)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(stderr: str) -> str:
    for kind, pattern in _PATTERNS:
        if pattern.search(stderr):
            return kind
    return OTHER


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove user info from URLs and every known secret value from a text."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A prompt-free environment that ignores the user's and the system's git config (so no
    credential helper of theirs can store a token, and results do not depend on the host)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_PROTOCOL": "version=2",
    }
    env.update(extra or {})
    return env


def run_git(
    args: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    stdout: int | None = subprocess.PIPE,
) -> bytes:
    """Run `git ARGS`; its output, or GitError (the whole process group is killed on timeout).

    `env` is the full environment (see `base_env`); `secrets` are removed from error texts.
    With `stdout` a file descriptor, the output goes there and b"" is returned.
    """
    proc = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=dict(env) if env is not None else base_env(),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise GitError(
            f"git {args[0]} did not finish within {timeout:g}s and was stopped", TIMEOUT
        ) from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        text = redact(err.decode(errors="replace").strip(), secrets)
        last = text.splitlines()[-3:] if text else [f"exit status {proc.returncode}"]
        raise GitError(f"git {args[0]} failed: {' / '.join(last)}", classify(text))
    return out or b""
