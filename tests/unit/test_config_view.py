"""The effective configuration as `/config` shows it (control/config.py): values with secrets
masked, the source of every key, and which keys workers receive."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from brisa.control.config import WORKER_KEYS, effective
from brisa.settings import SECTIONS, Settings, load
from brisa.system import System


def by_key(settings: Settings) -> dict[str, Any]:
    return {entry.key: entry for entry in effective(settings)}


def test_each_key_names_its_source_and_secrets_stay_masked(tmp_path: Path) -> None:
    config = tmp_path / "brisa.toml"
    config.write_text('[api]\nport = 9000\n[logs]\ns3_secret_access_key = "hunter2"\n')
    settings = load(
        home=tmp_path,
        config_file=config,
        environ={"BRISA__SCHEDULER__POLL_INTERVAL": "2s", "BRISA__CORE__SECRET_KEY": "sk-123"},
    )
    entries = by_key(settings)
    assert entries["api.port"].value == 9000
    assert entries["api.port"].source == f"file {config}"
    assert entries["scheduler.poll_interval"].source == "env BRISA__SCHEDULER__POLL_INTERVAL"
    assert entries["scheduler.poll_interval"].value == 2.0
    assert entries["api.host"].source == "default"
    assert entries["core.secret_key"].value == entries["logs.s3_secret_access_key"].value == "***"
    assert "hunter2" not in repr(effective(settings)) and "sk-123" not in repr(effective(settings))


def test_repositories_are_listed_with_what_workers_get_of_them(tmp_path: Path) -> None:
    settings = load(
        home=tmp_path,
        environ={"BRISA__REPOS__SALES__URL": "https://git.example/sales.git"},
    )
    entries = by_key(settings)
    assert entries["repos.sales.url"].source == "env BRISA__REPOS__SALES__URL"
    assert entries["repos.sales.url"].to_workers
    assert not entries["repos.sales.period"].to_workers


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    return (value or "") + "changed"


@pytest.mark.parametrize("section", list(SECTIONS))
def test_to_workers_is_exactly_what_the_worker_env_carries(tmp_path: Path, section: str) -> None:
    base = Settings(home=tmp_path, dags=dataclasses.replace(Settings(tmp_path).dags, folder="d"))
    before = System(settings=base).worker_env()
    for f in dataclasses.fields(getattr(base, section)):
        value = getattr(getattr(base, section), f.name)
        after = System(settings=base.replace(section, **{f.name: _changed(value)})).worker_env()
        key = f"{section}.{f.name}"
        assert (after != before) == (key in WORKER_KEYS), key


def test_command_line_flags_and_the_generated_key_say_so(tmp_path: Path) -> None:
    from brisa.settings import ensure_secret_key

    settings = ensure_secret_key(load(home=tmp_path, environ={}))
    settings = settings.replace("api", origin="command line", port=8123)
    entries = by_key(settings)
    assert entries["api.port"].source == "command line" and entries["api.port"].value == 8123
    assert entries["core.secret_key"].source.startswith("generated in ")
    assert entries["core.secret_key"].value == "***"
