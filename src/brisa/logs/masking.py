"""The one masking rule (docs/adr/0009-masking-secrets.md): every occurrence of a secret
becomes `***` wherever a task's output or a secret param reaches people — log lines (even
when a secret arrives split across several writes), task errors and return values, a run's
conf and a DAG's details.

The secrets are the values of the worker's environment variables whose names match
`[logs] mask_env_pattern`, the object store's secret key, the execution token, the params
marked `secret` in the DAG, and the variables of a shell task's `env` whose names match the
pattern. The worker masks logs, errors and return values with them before anything leaves
it; the control plane redacts secret params and secret `env` entries by name when it shows
a run or a DAG.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

MASK = b"***"
REDACTED = MASK.decode()
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
        if new:
            self._secrets = sorted([*self._secrets, *new], key=len, reverse=True)
            # Compiled when a stream is first fed (`_hold_from`): a masker of whole values
            # (a worker's outcome), or one given more secrets before its stream starts (the
            # log server's, at `begin`), compiles it once or never (ADR 0033).
            self._firsts = None

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
        if not self._secrets:
            return data
        out, pos = [], 0
        for start, end in _merged(_occurrences(self._secrets, data, len(data))):
            out += [data[pos:start], MASK]
            pos = end
        out.append(data[pos:])
        return b"".join(out)

    def mask_text(self, text: str) -> str:
        """`text` masked (secrets and text are whole UTF-8, so no character is cut)."""
        return self.mask(text.encode()).decode() if self._secrets else text

    def mask_json(self, value: Any) -> Any:
        """A JSON value with its strings masked, object keys included, its shape kept. A
        number whose text holds a secret becomes that text masked (a string). Two keys that
        mask alike become one (the last one's value wins)."""
        if not self._secrets or value is None:
            return value
        return self._masked(json.loads(json.dumps(value)))  # tuples, non-string keys: as JSON

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, list):
            return [self._masked(item) for item in value]
        if isinstance(value, dict):
            return {self.mask_text(k): self._masked(v) for k, v in value.items()}
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = json.dumps(value)
            masked = self.mask_text(text)
            return value if masked == text else masked
        return value

    def _hold_from(self, buf: bytes) -> int:
        """Where the tail that could still become a secret starts (len(buf): no such tail)."""
        if self._firsts is None:
            firsts = sorted({re.escape(s[:1]) for s in self._secrets})
            self._firsts = re.compile(b"[" + b"".join(firsts) + b"]")
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
        return _merged(spans + _occurrences(self._secrets, buf, cut))

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


def _occurrences(secrets: list[bytes], buf: bytes, cut: int) -> list[tuple[int, int]]:
    """Spans of every occurrence of a secret in `buf` that starts before `cut`."""
    spans = []
    for secret in secrets:
        at = buf.find(secret)
        while 0 <= at < cut:
            spans.append((at, at + len(secret)))
            at = buf.find(secret, at + 1)
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans sorted, those that overlap or touch made one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def secret_names(pattern: str) -> re.Pattern[str]:
    """`[logs] mask_env_pattern` compiled: empty matches no name, a broken one is the
    default."""
    if not pattern:
        return re.compile(r"(?!)")
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(DEFAULT_ENV_PATTERN)


def env_secrets(environ: Mapping[str, str], pattern: str) -> list[str]:
    """Values of the variables whose names match `pattern` (a broken one: the default)."""
    names = secret_names(pattern)
    return [value for name, value in environ.items() if names.search(name) and value]


def param_secrets(params: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The values of the params marked secret, as they may appear in a log."""
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


# What the control plane shows of a run or a DAG: secrets redacted by name.


def redact_conf(conf: Mapping[str, Any], secret: Collection[str]) -> dict[str, Any]:
    """A run's conf with the values of the secret params replaced by `***`."""
    return {name: REDACTED if name in secret else value for name, value in conf.items()}
