"""`[repos.NAME]` tables: one DAG source each, a git repository or (for development) a folder.

Checked when the settings load, so that a bad URL, a missing credential file or a token
written into a URL is reported by name before anything starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from brisa.errors import ConfigError
from brisa.settingfields import duration, secret

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SHA = re.compile(r"^[0-9a-f]{40}$")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
SCHEMES = ("https", "http", "ssh", "git", "file")


@dataclass(frozen=True)
class RepoSettings:
    """One DAG source. `url` (git) or `path` (a plain folder), never both."""

    name: str
    url: str = ""
    path: str = ""
    # At most one of branch / tag / commit; none means the remote's default branch (HEAD).
    branch: str = ""
    tag: str = ""
    commit: str = ""
    # Only this folder of the repository holds DAG files (relative, no '..').
    subdir: str = ""
    # The team that owns the DAGs; defaults to the repository's name.
    team: str = ""
    period: float = duration(30.0)
    # Commits fetched per sync: 1 is a shallow fetch of the tip; 0 is the whole history.
    depth: int = 1
    # Every git command is killed after this long.
    timeout: float = duration(120.0)
    # HTTPS credentials: the token is read from a file or an environment variable, never
    # from the URL.
    username: str = ""
    password_file: str = ""
    password_env: str = ""
    # SSH credentials: a private key and the known hosts to check the server against.
    ssh_key_file: str = ""
    known_hosts_file: str = ""
    strict_host_key_checking: bool = True
    # When set, POST /api/v1/repos/NAME/sync needs a GitHub (X-Hub-Signature-256) or GitLab
    # (X-Gitlab-Token) signature made with it.
    webhook_secret: str = secret()

    @property
    def is_git(self) -> bool:
        return bool(self.url)

    @property
    def owner(self) -> str:
        return self.team or self.name

    @property
    def ref(self) -> str:
        """What to fetch: refs/heads/X, refs/tags/X, a commit SHA, or HEAD."""
        if self.branch:
            return f"refs/heads/{self.branch}"
        if self.tag:
            return f"refs/tags/{self.tag}"
        return self.commit or "HEAD"

    def dag_root(self, tree: Path) -> Path:
        """Where the DAG files are inside a snapshot (or the folder) `tree`."""
        return tree / self.subdir if self.subdir else tree


def _where(repo: RepoSettings) -> str:
    return f"[repos.{repo.name}]"


def _check_url(repo: RepoSettings) -> None:
    url = repo.url
    if _SCP_LIKE.match(url):
        return  # git@host:path, SSH
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            f"{_where(repo)} url: {url!r} is not a git URL; use https://, ssh://, git:// or file://"
        )
    if parts.password is not None:
        raise ConfigError(
            f"{_where(repo)} url: the URL contains a password; remove it and put the token in "
            "a file named by password_file or an environment variable named by password_env"
        )


def _check_ref(repo: RepoSettings) -> None:
    given = [k for k in ("branch", "tag", "commit") if getattr(repo, k)]
    if len(given) > 1:
        raise ConfigError(f"{_where(repo)}: set one of branch, tag or commit, not {given}")
    if repo.commit and not SHA.match(repo.commit):
        raise ConfigError(
            f"{_where(repo)} commit: {repo.commit!r} is not a full 40-character lowercase SHA"
        )


def _check_credentials(repo: RepoSettings) -> None:
    where = _where(repo)
    if repo.password_file and repo.password_env:
        raise ConfigError(f"{where}: set password_file or password_env, not both")
    https = repo.url.startswith(("https://", "http://"))
    if (repo.password_file or repo.password_env or repo.username) and not https:
        raise ConfigError(f"{where}: username/password_* are for https:// URLs only")
    if repo.password_file and not Path(repo.password_file).is_file():
        raise ConfigError(f"{where} password_file: {repo.password_file} does not exist")
    if repo.ssh_key_file:
        if not Path(repo.ssh_key_file).is_file():
            raise ConfigError(f"{where} ssh_key_file: {repo.ssh_key_file} does not exist")
        if repo.strict_host_key_checking and not repo.known_hosts_file:
            raise ConfigError(
                f"{where}: ssh_key_file needs known_hosts_file (the server's host keys), or "
                "strict_host_key_checking = false"
            )
    if repo.known_hosts_file and not Path(repo.known_hosts_file).is_file():
        raise ConfigError(f"{where} known_hosts_file: {repo.known_hosts_file} does not exist")


def check(repo: RepoSettings) -> RepoSettings:
    """The repository's settings, or ConfigError naming the table and key at fault."""
    where = _where(repo)
    if not NAME.match(repo.name):
        raise ConfigError(f"{where}: repository names use lowercase letters, digits, '-' and '_'")
    if bool(repo.url) == bool(repo.path):
        raise ConfigError(f"{where}: set url (a git repository) or path (a folder), not both")
    if repo.subdir and (Path(repo.subdir).is_absolute() or ".." in Path(repo.subdir).parts):
        raise ConfigError(f"{where} subdir: {repo.subdir!r} must be a relative path inside it")
    if repo.depth < 0:
        raise ConfigError(f"{where} depth: use 1 (shallow) or more, or 0 for the whole history")
    if repo.path:
        if any(getattr(repo, k) for k in ("branch", "tag", "commit", "username", "ssh_key_file")):
            raise ConfigError(f"{where}: a path repository takes no git settings")
        if not Path(repo.path).is_dir():
            raise ConfigError(f"{where} path: {repo.path} is not a folder")
        return repo
    _check_url(repo)
    _check_ref(repo)
    _check_credentials(repo)
    return repo
