"""Configuration: one TOML file plus BRISA__SECTION__KEY overrides, checked by name."""

from pathlib import Path

import pytest

from brisa.errors import ConfigError
from brisa.settings import ensure_secret_key, load, parse_duration, redact_url


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "brisa.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'brisa.db'}"
    assert settings.api_url == "http://127.0.0.1:8080"
    assert settings.logs_location == f"file://{tmp_path / 'logs'}"


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    write(tmp_path, '[scheduler]\npoll_interval = "250ms"\n[api]\nport = 9000\n')
    env = {
        "BRISA__API__PORT": "9100",
        "BRISA__EXECUTOR__PARALLELISM": "4",
        "BRISA__DAGS__SCAN_INTERVAL": "2s",
        "BRISA__API__HOST": "0.0.0.0",
    }
    settings = load(tmp_path, environ=env)
    assert settings.scheduler.poll_interval == 0.25
    assert settings.api.port == 9100  # the environment wins over the file
    assert settings.executor.parallelism == 4
    assert settings.dags.scan_interval == 2.0
    assert settings.api_url == "http://127.0.0.1:9100"  # workers cannot dial 0.0.0.0


def test_brisa_home_and_explicit_config_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text("[executor]\nparallelism = 3\n")
    settings = load(config_file=other, environ={"BRISA_HOME": str(tmp_path / "h")})
    assert settings.home == tmp_path / "h"
    assert settings.executor.parallelism == 3


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("[scheduler]\npol_interval = 1\n", {}, "[scheduler] pol_interval"),
        ("[nope]\nx = 1\n", {}, "[nope]"),
        ("[api]\nport = 'eighty'\n", {}, "[api] port"),
        ("[executor]\nparallelism = true\n", {}, "[executor] parallelism"),
        ("[scheduler]\nqueue_batch = 0\n", {}, "[scheduler] queue_batch"),
        ("[retention]\naudit_days = -1\n", {}, "[retention] audit_days"),
        ("[retention]\ninterval = '5s'\n", {}, "[retention] interval"),
        ("", {"BRISA__RETENTION__COMMIT_PARSES_PER_REPO": "many"}, "[retention] commit_parses"),
        ("[scheduler]\npoll_interval = 'soon'\n", {}, "[scheduler] poll_interval"),
        ("", {"BRISA__API__PORT": "x"}, "environment variable BRISA__API__PORT [api] port"),
        ("", {"BRISA__API__PORTX": "1"}, "environment variable BRISA__API__PORTX: unknown key"),
        ("[executor]\nkind = 'k8s'\n", {}, "[executor] kind"),
        ("", {"BRISA__API": "x"}, "BRISA__API"),
        ("", {"BRISA__NOPE__X": "1"}, "BRISA__NOPE__X"),
        ("[api\n", {}, "not valid TOML"),
    ],
)
def test_bad_configuration_is_reported_by_name(
    tmp_path: Path, text: str, env: dict[str, str], named: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load(tmp_path, environ=env)


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path, config_file=tmp_path / "missing.toml", environ={})


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={})
    with pytest.raises(AttributeError):
        settings.api.port = 1  # type: ignore[misc]


def test_effective_config_redacts_secrets(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[core]\nsecret_key = "s3cr3t"\n'
        '[database]\nurl = "postgresql://brisa:hunter2@db:5432/brisa"\n',
    )
    shown = load(tmp_path, environ={}).redacted()
    text = repr(shown)
    assert "s3cr3t" not in text and "hunter2" not in text
    assert shown["core"]["secret_key"] == "***"
    assert shown["database"]["url"] == "postgresql://brisa:***@db:5432/brisa"


def test_redact_url_leaves_urls_without_password() -> None:
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (5, 5.0),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1.5", 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = ensure_secret_key(load(tmp_path, environ={}))
    second = ensure_secret_key(load(tmp_path, environ={}))
    assert len(first.core.secret_key) == 64
    assert first.core.secret_key == second.core.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_repository_tables_and_their_environment_overrides(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[repos.analytics]\nurl = "https://git.example.com/a.git"\nbranch = "main"\n'
        'period = "5s"\nwebhook_secret = "hush"\n[repos.ml]\nurl = "file:///srv/ml.git"\n'
        '[dags]\nfolder = "."\n',
    )
    env = {"BRISA__REPOS__ANALYTICS__SUBDIR": "dags", "BRISA__REPOS__ML__TAG": "v2"}
    settings = load(tmp_path, environ=env)
    analytics, ml = settings.repos
    assert (analytics.name, analytics.subdir, analytics.period, analytics.owner) == (
        "analytics",
        "dags",
        5.0,
        "analytics",
    )
    assert (analytics.ref, ml.ref) == ("refs/heads/main", "refs/tags/v2")
    assert [s.name for s in settings.sources()] == ["dags", "analytics", "ml"]
    assert settings.redacted()["repos"]["analytics"]["webhook_secret"] == "***"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('url = "https://bot:tok3n@git.example.com/a.git"', "contains a password"),
        ('url = "ftp://x/y"', "is not a git URL"),
        ('path = "."\nurl = "file:///x"', "not both"),
        ("", "set url"),
        ('url = "file:///x"\ncommit = "abc"', "40-character"),
        ('url = "file:///x"\nbranch = "a"\ntag = "b"', "one of branch, tag or commit"),
        ('url = "ssh://git@h/x"\nssh_key_file = "/etc/passwd"', "known_hosts_file"),
        ('url = "ssh://git@h/x"\npassword_env = "T"', "https:// URLs only"),
        ('url = "https://h/x"\npassword_file = "/nope/token"', "does not exist"),
        ('url = "file:///x"\nsubdir = "../up"', "relative path"),
        ('url = "file:///x"\nbranchh = "main"', "unknown key [repos.r] branchh"),
        ('path = "/definitely/missing"', "is not a folder"),
    ],
)
def test_bad_repository_tables_name_the_key(tmp_path: Path, table: str, named: str) -> None:
    write(tmp_path, f"[repos.r]\n{table}\n")
    with pytest.raises(ConfigError) as err:
        load(tmp_path, environ={})
    assert named in str(err.value)
    assert "tok3n" not in str(err.value)


def test_a_repository_named_like_the_dags_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, '[dags]\nfolder = "."\n[repos.dags]\nurl = "file:///x"\n')
    with pytest.raises(ConfigError, match=r"\[repos.dags\] clashes"):
        load(tmp_path, environ={})
