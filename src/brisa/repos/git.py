"""The git CLI through subprocess: every call has a timeout that kills it (and whatever it
started), runs with a clean, prompt-free environment, and fails with a classified GitError
whose text never holds a credential.

Credentials reach git only through a pipe: Brisa writes them into it before starting git, git
inherits its read end, and the credential helper reads them from that file descriptor. They
are never in an environment (`/proc/PID/environ` of git and of its helpers), an argument, a
URL, or a file. The pipe is read once, at git's first authenticated request, and is empty
after that.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from brisa.errors import BrisaError

if TYPE_CHECKING:
    from brisa.repos.config import RepoSettings

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
            r"returned error: 404|unadvertised object|invalid refspec",
            re.I,
        ),
    ),
    (
        CORRUPT,
        re.compile(
            # "bad object" is local: a remote that lacks an object says "not our ref".
            r"not a git repository|corrupt|bad config|fatal: (loose )?object .* is|"
            r"unable to read|index file|packfile .* does not match|bad signature|"
            r"bad object|unable to create '[^']*\.lock'|did not send all necessary objects|"
            r"invalid (gitfile|object)",
            re.I,
        ),
    ),
    (
        NETWORK,
        re.compile(
            r"could not resolve host|connection refused|connection timed out|"
            r"couldn't connect|failed to connect|unable to connect|network is unreachable|"
            r"connection reset|the remote end hung up|early eof|unable to look up|"
            r"operation timed out|ssl|tls|returned error: 5\d\d",
            re.I,
        ),
    ),
]

_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")

# Environment variables handed from Brisa's environment to git: proxies and CA bundles, which
# a network that needs them sets for every program.
PASSTHROUGH = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

# Answers git's "get" with what Brisa wrote into the pipe whose read end is the file
# descriptor named by CREDENTIAL_FD_VARIABLE (a number, not a secret); ignores "store" and
# "erase". Only the descriptor's number is in an environment or a command line. The pipe is
# opened by path: dash, git's `sh`, refuses `<&N` for a descriptor above 9.
CREDENTIAL_FD_VARIABLE = "BRISA_GIT_CREDENTIAL_FD"
CREDENTIAL_HELPER = (
    f'!f() {{ test "$1" = get || return 0; cat "/dev/fd/${CREDENTIAL_FD_VARIABLE}"; }}; f'
)
# GitHub and GitLab accept any non-empty user name with a token; git needs one.
DEFAULT_USERNAME = "x-access-token"


class GitError(BrisaError):
    """A git command failed; `kind` says how (network, auth, not_found, timeout, ...)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(stderr: str) -> str:
    """The failure kind of a git error text (OTHER when no known message is found)."""
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


@dataclass(frozen=True)
class GitAuth:
    """How one repository's credentials reach git: `config` goes before the git subcommand
    (`-c` options that never hold a value), `env` into the git process's environment (no
    secret), `credential` is what the credential helper answers (given to `run_git`, which
    hands it over through a pipe), and `secrets` are the values to remove from every error
    text."""

    config: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    credential: bytes = field(default=b"", repr=False)


def is_ssh_url(url: str) -> bool:
    return url.startswith(("ssh://", "git+ssh://", "ssh+git://")) or bool(_SCP_LIKE.match(url))


def _ssh_path_option(name: str, path: str) -> str:
    # ssh splits option values on whitespace (a list of files), so a path with spaces is quoted.
    return f'{name}="{path}"' if any(c.isspace() for c in path) else f"{name}={path}"


def ssh_command(repo: RepoSettings) -> str:
    """GIT_SSH_COMMAND for `repo`: only its key, its known hosts, and never a prompt."""
    parts = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(repo.timeout))}"]
    if repo.ssh_key_file:
        parts += ["-i", repo.ssh_key_file, "-o", "IdentitiesOnly=yes"]
    if repo.strict_host_key_checking:
        parts += ["-o", "StrictHostKeyChecking=yes"]
        if repo.known_hosts_file:
            parts += ["-o", _ssh_path_option("UserKnownHostsFile", repo.known_hosts_file)]
    else:
        known = repo.known_hosts_file or "/dev/null"
        parts += ["-o", "StrictHostKeyChecking=no"]
        parts += ["-o", _ssh_path_option("UserKnownHostsFile", known)]
    return " ".join(shlex.quote(part) for part in parts)


def _token(repo: RepoSettings, environ: Mapping[str, str]) -> str:
    where = f"[repos.{repo.name}]"
    if repo.password_file:
        try:
            token = Path(repo.password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise GitError(
                f"{where} password_file {repo.password_file} cannot be read ({reason}); "
                "put the token in it, readable by Brisa",
                AUTH,
            ) from None
        what = f"password_file {repo.password_file}"
    else:
        token = environ.get(repo.password_env, "").strip()
        what = f"environment variable {repo.password_env} (password_env)"
    if not token:
        raise GitError(f"{where} {what} is empty or unset; give it the access token", AUTH)
    if "\n" in token or "\r" in token:
        raise GitError(f"{where} {what} holds several lines; keep only the token", AUTH)
    return token


def git_auth(repo: RepoSettings, environ: Mapping[str, str]) -> GitAuth:
    """The credentials of `repo` for one git call, read now (a rotated token file is picked
    up at the next call). `environ` is where password_env and proxy settings are looked up.
    Raises GitError (kind auth) when the token cannot be read."""
    env = {key: environ[key] for key in PASSTHROUGH if key in environ}
    # A reset first, so that only Brisa's helper can answer, whatever config git finds.
    config: tuple[str, ...] = ("-c", "credential.helper=")
    secrets: tuple[str, ...] = ()
    credential = b""
    if repo.password_file or repo.password_env:
        token = _token(repo, environ)
        config += ("-c", f"credential.helper={CREDENTIAL_HELPER}")
        username = repo.username or DEFAULT_USERNAME
        credential = f"username={username}\npassword={token}\n".encode()
        secrets = (token,)
    if is_ssh_url(repo.url):
        env["GIT_SSH_COMMAND"] = ssh_command(repo)
        env["GIT_SSH_VARIANT"] = "ssh"
    return GitAuth(config, env, secrets, credential)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: the worker imports this module and should not pay for ctypes

    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child before exec: a git left behind by a killed Brisa would keep writing to
    the cache (and hold its locks) while the next syncer works on it, so it dies with us.
    (The signal follows the thread that started git; run_git waits in that thread.)"""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _command_name(args: list[str]) -> str:
    """The git subcommand in ARGS, past global options such as `-c name=value`."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return args[0] if args else "git"


def _summary(stderr: str, returncode: int) -> str:
    """The lines of a git error text that say what went wrong (its advice lines dropped)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"exit status {returncode}"
    errors = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    return " / ".join((errors or lines)[-3:])


# What fits into a pipe without a reader (Linux gives a pipe 64 KiB); a token is far smaller.
_PIPE_ROOM = 16 * 1024


@contextlib.contextmanager
def _credential_pipe(credential: bytes) -> Iterator[tuple[int, ...]]:
    """The read end of a pipe that holds `credential` and is at its end, for git to inherit
    (an empty tuple without a credential); closed here once git has started."""
    if not credential:
        yield ()
        return
    if len(credential) > _PIPE_ROOM:
        raise GitError(f"the git credential is longer than {_PIPE_ROOM} bytes", AUTH)
    read_end, write_end = os.pipe()  # not inheritable: only git gets it, through pass_fds
    try:
        os.write(write_end, credential)
        os.close(write_end)
        write_end = -1
        yield (read_end,)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def run_git(
    args: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    stdout: int | None = subprocess.PIPE,
    credential: bytes = b"",
) -> bytes:
    """Run `git ARGS`; its output, or GitError (the whole process group is killed on timeout).

    `env` is the full environment (see `base_env`); `secrets` are removed from error texts.
    With `stdout` a file descriptor, the output goes there and b"" is returned. A
    `credential` (`GitAuth.credential`) is handed to git's credential helper through a pipe.
    """
    name = _command_name(args)
    _prctl()  # load libc before forking, so that the child only makes the call
    env = dict(env) if env is not None else base_env()
    with _credential_pipe(credential) as fds:
        if fds:
            env[CREDENTIAL_FD_VARIABLE] = str(fds[0])
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise GitError(
            f"git {name} did not finish within {timeout:g}s and was stopped", TIMEOUT
        ) from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        text = redact(err.decode(errors="replace").strip(), secrets)
        raise GitError(f"git {name} failed: {_summary(text, proc.returncode)}", classify(text))
    return out or b""
