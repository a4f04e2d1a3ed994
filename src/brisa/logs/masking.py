"""Secret masking for task logs: every occurrence of a secret becomes `***` before a log
line leaves the worker, even when the secret arrives split across several writes.

The secrets are the values of the worker's environment variables whose names match
`[logs] mask_env_pattern`, the object store's secret key, the execution token, and the
params marked `secret` in the DAG.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = b"***"
# Shorter values are not masked: masking "1" or "yes" everywhere would wreck every log.
MIN_SECRET_LEN = 4
DEFAULT_ENV_PATTERN = "(?i)(password|passwd|secret|token|api_key|apikey|private_key|credential)"


class Masker:
    """Replaces every occurrence of a secret by `***` in a stream of UTF-8 bytes.

    It works on the bytes the attempt wrote (no decoding, so invalid UTF-8 passes through
    as it is). `feed` is stream-aware: a secret may arrive split across writes, so the
    longest tail that could be the start of a secret (at most `longest - 1` bytes) is held
    back until the next `feed` or `flush`. Overlapping occurrences (of one secret or of
    several) are masked as one span, so no part of any of them shows.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[bytes] = []
        self._firsts: re.Pattern[bytes] | None = None
        self._held = b""
        # The last *** emitted reaches the start of _held (and covers its first bytes): a
        # secret starting there continues that ***, it does not start another.
        self._open = False
        self._covered = 0
        self.add(secrets)

    @property
    def secrets(self) -> list[str]:
        return [s.decode() for s in self._secrets]

    def add(self, secrets: Iterable[str]) -> None:
        new = {s.encode() for s in secrets if len(s) >= MIN_SECRET_LEN} - set(self._secrets)
        self._secrets = sorted([*self._secrets, *new], key=len, reverse=True)
        if self._secrets:
            firsts = sorted({re.escape(s[:1]) for s in self._secrets})
            self._firsts = re.compile(b"[" + b"".join(firsts) + b"]")

    def feed(self, data: bytes) -> bytes:
        if not self._secrets:
            return data
        buf = self._held + data if self._held else data
        return self._emit(buf, self._hold_from(buf))

    def flush(self) -> bytes:
        """Everything held back, masked: the stream has ended."""
        return self._emit(self._held, len(self._held)) if self._held else b""

    def mask(self, data: bytes) -> bytes:
        """`data` masked on its own, without touching the stream's state."""
        fresh = Masker(self.secrets)
        return fresh.feed(data) + fresh.flush()

    def _hold_from(self, buf: bytes) -> int:
        """Where the tail that could still become a secret starts (len(buf): no such tail)."""
        assert self._firsts is not None
        lo = max(0, len(buf) - len(self._secrets[0]) + 1)
        found = self._firsts.search(buf, lo)
        while found is not None:
            tail = buf[found.start() :]
            if any(s.startswith(tail) for s in self._secrets):
                return found.start()
            found = self._firsts.search(buf, found.start() + 1)
        return len(buf)

    def _spans(self, buf: bytes, cut: int) -> list[tuple[int, int]]:
        """Merged spans of the occurrences that start before `cut` (final: more input cannot
        change them), and of the part already masked."""
        spans = [(0, self._covered)] if self._open else []
        for secret in self._secrets:
            at = buf.find(secret)
            while 0 <= at < cut:
                spans.append((at, at + len(secret)))
                at = buf.find(secret, at + 1)
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _emit(self, buf: bytes, cut: int) -> bytes:
        spans = self._spans(buf, cut)
        if not spans:
            self._held, self._open, self._covered = buf[cut:], False, 0
            return buf[:cut]
        out, pos = [], 0
        for start, end in spans:
            out.append(buf[pos:start])
            if not (start == 0 and self._open):  # that *** was emitted with the last data
                out.append(MASK)
            pos = end
        out.append(buf[pos:cut])
        self._held, self._open = buf[cut:], spans[-1][1] >= cut
        self._covered = max(0, spans[-1][1] - cut)
        return b"".join(out)


def env_secrets(environ: Mapping[str, str], pattern: str) -> list[str]:
    """Values of the variables whose names match `pattern` (a broken one: the default)."""
    try:
        names = re.compile(pattern)
    except re.error:
        names = re.compile(DEFAULT_ENV_PATTERN)
    return [value for name, value in environ.items() if names.search(name) and value]


def param_secrets(params: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The values of the params marked secret, as they may appear in a log."""
    import json

    found: list[str] = []
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        found.append(value if isinstance(value, str) else json.dumps(value))
        if isinstance(value, list | dict):
            found += _strings(value)
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
