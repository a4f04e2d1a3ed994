"""What a result depends on besides the code under test: the machine, the versions, and the
effective settings of the Brisa processes the bench starts."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    """Read-only git queries (revision, local changes); empty outside a checkout."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def brisa_version() -> dict[str, Any]:
    return {
        "version": metadata.version("brisa"),
        "git_revision": _git("rev-parse", "--short", "HEAD"),
        "git_local_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def settings() -> dict[str, Any]:
    """The settings a standalone started by the bench runs with (file + environment as it
    sees them), secrets redacted; the home, port and DAG folder are per run."""
    from brisa.settings import load

    home = Path(tempfile.gettempdir()) / "brisa-bench-settings"  # holds no brisa.toml
    effective = load(home=home, environ=os.environ).redacted()
    effective.pop("home")
    effective["api"]["port"] = "<free port per run>"
    effective["dags"]["folder"] = "<temporary folder per run>"
    return effective


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def describe(load_before: str) -> dict[str, Any]:
    return {
        "load_before": load_before,
        "load_after": load_average(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "machine": machine(),
        "brisa": brisa_version(),
        "settings": settings(),
    }
