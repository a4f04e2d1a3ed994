"""The effective configuration as people may see it (`/config`, `GET /api/v1/config`): one
entry per key with its value (secrets masked by `Settings.redacted`, never read here), where it
came from (default, the config file, or a `BRISA__…` environment variable) and whether workers
receive it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brisa.settings import Settings

# The keys `System.worker_env` hands to every worker (with each attempt's token), and the
# repository keys a run's code location carries; tests/unit/test_config_view.py checks this
# list against `System.worker_env`.
WORKER_KEYS = frozenset(
    {
        "home",
        "core.max_return_value_bytes",
        "api.host",
        "api.port",
        "api.public_url",
        "dags.folder",
        "worker.heartbeat_interval",
        "worker.report_timeout",
        "worker.code_timeout",
        "logs.location",
        "logs.chunk_interval",
        "logs.chunk_bytes",
        "logs.mask_env_pattern",
        "logs.s3_endpoint_url",
        "logs.s3_region",
        "logs.s3_access_key_id",
        "logs.s3_secret_access_key",
        "logs.s3_allow_http",
    }
)
REPO_WORKER_KEYS = frozenset({"url", "subdir", "path"})


@dataclass(frozen=True)
class ConfigEntry:
    key: str  # "section.key", "repos.NAME.key" or "home"
    value: Any
    # "default", "file <path>", "env BRISA__SECTION__KEY", "command line", "generated in <path>"
    source: str
    to_workers: bool


def effective(settings: Settings) -> list[ConfigEntry]:
    """Every key of the running configuration, in the order of `brisa config show`."""
    shown = settings.redacted()
    entries = [ConfigEntry("home", shown.pop("home"), "BRISA_HOME or --home", True)]
    repos = shown.pop("repos")
    for section, values in shown.items():
        for key, value in values.items():
            name = f"{section}.{key}"
            entries.append(_entry(settings, name, value, name in WORKER_KEYS))
    for repo, values in repos.items():
        for key, value in values.items():
            if key != "name":
                name = f"repos.{repo}.{key}"
                entries.append(_entry(settings, name, value, key in REPO_WORKER_KEYS))
    return entries


def _entry(settings: Settings, name: str, value: Any, to_workers: bool) -> ConfigEntry:
    return ConfigEntry(name, value, settings.origins.get(name, "default"), to_workers)
