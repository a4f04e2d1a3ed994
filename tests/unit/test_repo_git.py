"""The pure parts of talking to git: classifying and redacting errors, building the
credential helper, the SSH command and the retry backoff. No git process is started here
(see tests/integration/test_repo_sync.py for real remotes)."""

from __future__ import annotations

import random
import shlex
from pathlib import Path

import pytest

from brisa.repos.config import RepoSettings
from brisa.repos.git import (
    AUTH,
    CORRUPT,
    DEFAULT_USERNAME,
    NETWORK,
    NOT_FOUND,
    OTHER,
    GitError,
    classify,
    git_auth,
    is_ssh_url,
    redact,
    ssh_command,
)
from brisa.repos.sync import retry_delay

TOKEN = "ghp_unit-test-token-0123456789"


# Messages as git 2.39 prints them (taken from real runs against local remotes).
@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("fatal: Authentication failed for 'https://h/x.git/'", AUTH),
        (
            "fatal: could not read Username for 'https://h': terminal prompts disabled",
            AUTH,
        ),
        ("git@h: Permission denied (publickey).", AUTH),
        ("Host key verification failed.", AUTH),
        ("fatal: couldn't find remote ref refs/heads/gone", NOT_FOUND),
        ("fatal: remote error: upload-pack: not our ref " + "a" * 40, NOT_FOUND),
        ("fatal: repository 'https://h/x.git/' not found", NOT_FOUND),
        (
            "fatal: unable to access 'http://127.0.0.1:1/x.git/': Failed to connect to "
            "127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
            NETWORK,
        ),
        (
            "fatal: unable to connect to 127.0.0.1:\n"
            "127.0.0.1[0: 127.0.0.1]: errno=Connection refused",
            NETWORK,
        ),
        ("fatal: Could not resolve host: nowhere.invalid", NETWORK),
        ("error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502", NETWORK),
        ("fatal: not a git repository: '/r/cache.git'", CORRUPT),
        ("fatal: loose object 8d57 (stored in o/8d/57) is corrupt", CORRUPT),
        ("fatal: bad object refs/brisa/target", CORRUPT),
        ("fatal: Unable to create '/r/cache.git/shallow.lock': File exists.", CORRUPT),
        ("fatal: bad config line 1 in file /r/cache.git/config", CORRUPT),
        ("fatal: something nobody has seen before", OTHER),
    ],
)
def test_git_errors_are_classified_by_what_the_operator_can_do(stderr: str, kind: str) -> None:
    assert classify(stderr) == kind


def test_redact_removes_url_user_info_and_every_secret() -> None:
    text = f"fatal: unable to access 'https://bob:{TOKEN}@h/x.git/': token {TOKEN} refused"
    cleaned = redact(text, secrets=[TOKEN, ""])
    assert TOKEN not in cleaned
    assert "bob" not in cleaned
    assert "https://***@h/x.git/" in cleaned


def _repo(tmp_path: Path, **settings: object) -> RepoSettings:
    defaults: dict[str, object] = {"name": "team-a", "url": "https://git.example/team-a.git"}
    return RepoSettings(**{**defaults, **settings})  # type: ignore[arg-type]


def test_token_from_a_file_reaches_git_only_through_the_credential_pipe(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    auth = git_auth(_repo(tmp_path, username="bot", password_file=str(token_file)), {})
    # What the helper answers; run_git writes it into a pipe that git inherits.
    assert auth.credential == f"username=bot\npassword={TOKEN}\n".encode()  # newline dropped
    assert auth.secrets == (TOKEN,)
    # Neither git's environment nor its arguments hold the token; the helper names a variable
    # that holds a file descriptor's number.
    assert all(TOKEN not in value for value in auth.env.values())
    assert TOKEN not in " ".join(auth.config)
    assert TOKEN not in repr(auth)
    assert auth.config[:2] == ("-c", "credential.helper=")  # any other helper is reset first
    assert "$BRISA_GIT_CREDENTIAL_FD" in auth.config[3]


def test_a_rotated_token_file_is_read_again_at_the_next_call(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    repo = _repo(tmp_path, password_file=str(token_file))
    token_file.write_text("first-token")
    assert b"password=first-token\n" in git_auth(repo, {}).credential
    token_file.write_text("second-token")
    assert b"password=second-token\n" in git_auth(repo, {}).credential


def test_token_from_the_environment_given_and_a_default_user_name(tmp_path: Path) -> None:
    auth = git_auth(_repo(tmp_path, password_env="TEAM_A_TOKEN"), {"TEAM_A_TOKEN": TOKEN})
    assert auth.credential == f"username={DEFAULT_USERNAME}\npassword={TOKEN}\n".encode()
    assert "TEAM_A_TOKEN" not in auth.env


@pytest.mark.parametrize(
    ("settings", "environ", "says"),
    [
        ({"password_file": "/nonexistent/token"}, {}, "/nonexistent/token cannot be read"),
        ({"password_env": "TEAM_A_TOKEN"}, {}, "TEAM_A_TOKEN (password_env) is empty or unset"),
        ({"password_env": "TEAM_A_TOKEN"}, {"TEAM_A_TOKEN": "a\nb"}, "holds several lines"),
    ],
)
def test_an_unusable_token_is_an_auth_error_that_names_its_source(
    tmp_path: Path, settings: dict[str, str], environ: dict[str, str], says: str
) -> None:
    with pytest.raises(GitError) as caught:
        git_auth(_repo(tmp_path, **settings), environ)
    assert caught.value.kind == AUTH
    assert says in str(caught.value)
    assert "[repos.team-a]" in str(caught.value)


def test_without_credentials_only_the_helper_reset_and_proxies_are_passed(tmp_path: Path) -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "AWS_SECRET_ACCESS_KEY": "x", "HOME": "/h"}
    auth = git_auth(_repo(tmp_path), environ)
    assert auth.config == ("-c", "credential.helper=")
    assert dict(auth.env) == {"HTTPS_PROXY": "http://proxy:3128"}
    assert auth.secrets == ()
    assert auth.credential == b""


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("git@github.com:team/dags.git", True),
        ("ssh://git@host:2222/team/dags.git", True),
        ("https://github.com/team/dags.git", False),
        ("git://host/dags.git", False),
        ("file:///srv/dags.git", False),
    ],
)
def test_ssh_urls_are_recognised(url: str, ssh: bool) -> None:
    assert is_ssh_url(url) is ssh


def test_ssh_uses_only_the_given_key_and_known_hosts_and_never_prompts(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        url="git@host:team/dags.git",
        ssh_key_file="/keys/team a/id_ed25519",
        known_hosts_file="/keys/known hosts",
        timeout=20.0,
    )
    words = shlex.split(ssh_command(repo))  # the shell git runs it with splits it so
    assert words[0] == "ssh"
    assert words[words.index("-i") + 1] == "/keys/team a/id_ed25519"
    options = {words[i + 1] for i, word in enumerate(words) if word == "-o"}
    assert {
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
        "ConnectTimeout=20",
        'UserKnownHostsFile="/keys/known hosts"',  # quoted for ssh's own word splitting
    } <= options
    assert git_auth(repo, {}).env["GIT_SSH_COMMAND"] == ssh_command(repo)


def test_ssh_without_host_key_checking_trusts_nothing_it_saves(tmp_path: Path) -> None:
    repo = _repo(tmp_path, url="ssh://git@host/dags.git", strict_host_key_checking=False)
    words = shlex.split(ssh_command(repo))
    assert "StrictHostKeyChecking=no" in words
    assert "UserKnownHostsFile=/dev/null" in words
    assert "-i" not in words


class _MiddleRng(random.Random):
    """A jitter of exactly 1 (the middle of the ±20% range)."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


def test_retry_delay_starts_soon_doubles_and_is_capped() -> None:
    rng = _MiddleRng()
    assert retry_delay(30.0, 0, rng) == 30.0  # no failure: the period
    delays = [retry_delay(30.0, n, rng) for n in range(1, 12)]
    assert delays[:5] == pytest.approx([2.0, 4.0, 8.0, 16.0, 32.0])
    assert max(delays) == pytest.approx(300.0)  # 10 x period, below 10 minutes
    assert retry_delay(3600.0, 50, rng) == pytest.approx(3600.0)  # never below the period
    assert retry_delay(120.0, 10_000, rng) == pytest.approx(600.0)  # no overflow; 10 minutes
    assert retry_delay(0.5, 1, rng) == pytest.approx(0.5)  # a short period retries at once
    assert retry_delay(0.0, 1, rng) == pytest.approx(0.5)  # but never in a busy loop


def test_retry_delay_is_jittered_within_twenty_percent() -> None:
    rng = random.Random(7)
    delays = [retry_delay(30.0, 3, rng) for _ in range(200)]
    assert all(6.4 <= d <= 9.6 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # repositories do not retry in step
