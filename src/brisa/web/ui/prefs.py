"""What a user chose for display (time zone, theme), read from cookies so that the first paint
of server-rendered HTML is already right. Pure: cookies in, preferences out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TZ_COOKIE = "brisa_tz"
THEME_COOKIE = "brisa_theme"
THEMES = ("system", "light", "dark")
YEAR = 365 * 24 * 3600  # how long a preference cookie lives


@dataclass(frozen=True)
class Prefs:
    tz_name: str = "UTC"
    theme: str = "system"
    tz_chosen: bool = False  # False until the browser or the user has named a zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)


def zone_or_none(name: str | None) -> str | None:
    """`name` when it is a time zone this server knows (IANA name), else None."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def from_cookies(cookies: Mapping[str, str]) -> Prefs:
    zone = zone_or_none(unquote(cookies.get(TZ_COOKIE, "")))  # as the browser's script wrote it
    theme = cookies.get(THEME_COOKIE, "system")
    return Prefs(
        tz_name=zone or "UTC",
        theme=theme if theme in THEMES else "system",
        tz_chosen=zone is not None,
    )
