"""The installed dependencies agree (PLATFORM.md K10): `pip check` is clean with Brisa's
development extras, which install lightkube, the official Kubernetes client (`>=36,<37`) and
botocore (through moto), whose `python-dateutil` requirements once conflicted."""

from __future__ import annotations

import importlib.util
import subprocess
import sys


def test_pip_check_is_clean_with_both_kubernetes_clients_and_botocore() -> None:
    for module in ("lightkube", "kubernetes", "botocore"):
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
