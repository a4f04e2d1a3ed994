"""Every timestamp a page shows, in the user's display zone with its offset (UI.md A.7), and
durations (zone-free). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_text(value: datetime, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """`2026-03-01 09:00:00 +09:00` in `zone`."""
    shown = _aware(value).astimezone(zone)
    # Formatted by hand: strftime was a tenth of the DAG list's render time (W10).
    date = f"{shown.year:04d}-{shown.month:02d}-{shown.day:02d}"
    clock = f"{shown.hour:02d}:{shown.minute:02d}" + (f":{shown.second:02d}" if seconds else "")
    minutes = int((shown.utcoffset() or timedelta()).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{date} {clock} {sign}{hours:02d}:{rest:02d}"


def time_tag(value: datetime | None, zone: ZoneInfo, *, empty: str = "—") -> Markup:
    """A `<time>` element: the instant in UTC for machines, the display zone for people."""
    if value is None:
        return Markup('<span class="muted">{}</span>').format(empty)
    utc = _aware(value).astimezone(UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    title = f"UTC {utc.strftime('%Y-%m-%d %H:%M:%S')}"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso, title, local_text(value, zone)
    )


def duration_text(seconds: float | None) -> str:
    """`850 ms`, `12.4 s`, `3 m 05 s`, `2 h 04 m`, `3 d 02 h`."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} m"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def between(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """Seconds from `start` to `end` (to `now` while it runs)."""
    if start is None:
        return None
    return (_aware(end or now) - _aware(start)).total_seconds()


def ago_text(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    delta = _aware(now) - _aware(value)
    if delta < timedelta(0):
        return "in " + duration_text(-delta.total_seconds())
    return duration_text(delta.total_seconds()) + " ago"


def zone_label(zone: ZoneInfo, now: datetime) -> Markup:
    offset = _aware(now).astimezone(zone).strftime("%z")
    return escape(f"{zone.key}, UTC{offset[:3]}:{offset[3:]}")
