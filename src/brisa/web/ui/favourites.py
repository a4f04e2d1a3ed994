"""The DAGs a browser starred (UI.md A.2.1, A.2.2), kept in a cookie as the display time zone
is (`prefs`): there are no user accounts yet. Pure: a cookie's value in, DAG keys out, and
back.

The cookie holds only DAG keys, `team/dag_id` each part percent-encoded, joined by commas and
percent-encoded again (so the value needs no quotes): at most `MAX_FAVOURITES` of them and
`MAX_BYTES` in all, so a browser never drops it for its size. A value that is not such a
list (edited by hand, from another version) is ignored entry by entry: a bad entry is
dropped, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

from markupsafe import Markup, escape

from brisa.errors import InvalidInput
from brisa.web.ui.listview import element_id, segment
from brisa.web.ui.prefs import YEAR as YEAR  # how long the cookie lives, as a preference's

FAV_COOKIE = "brisa_fav"
MAX_FAVOURITES = 100
MAX_BYTES = 3800  # under the 4096 bytes a browser keeps of one cookie
_PART = re.compile(r"[A-Za-z0-9_.\-]{1,250}")

DagKey = tuple[str, str]


def _valid(part: str) -> bool:
    return _PART.fullmatch(part) is not None


def parse(value: str) -> tuple[DagKey, ...]:
    """The DAG keys `value` holds, in the order starred, without duplicates or bad entries."""
    if not value or len(value) > 2 * MAX_BYTES:
        return ()
    keys: list[DagKey] = []
    for entry in unquote(value).split(","):
        team, slash, dag_id = entry.partition("/")
        key = (unquote(team), unquote(dag_id))
        if slash and _valid(key[0]) and _valid(key[1]) and key not in keys:
            keys.append(key)
        if len(keys) == MAX_FAVOURITES:
            break
    return tuple(keys)


def from_cookies(cookies: Mapping[str, str]) -> tuple[DagKey, ...]:
    return parse(cookies.get(FAV_COOKIE, ""))


def encode(keys: Iterable[DagKey]) -> str:
    """The cookie value of `keys`."""
    joined = ",".join(f"{quote(team, safe='')}/{quote(dag_id, safe='')}" for team, dag_id in keys)
    # Nothing left that a cookie must quote (`/` and `,` are encoded too): a quoted value would
    # reach a client that does not unquote it with its quotes.
    return quote(joined, safe="")


def toggle(keys: tuple[DagKey, ...], key: DagKey, starred: bool) -> tuple[DagKey, ...]:
    """`keys` with `key` starred (appended) or not; InvalidInput when starring would pass the
    bounds (the user unstars one first) or `key` is not a DAG key."""
    if not (_valid(key[0]) and _valid(key[1])):
        raise InvalidInput(f"{key[0]}/{key[1]} cannot be a favourite")
    kept = tuple(k for k in keys if k != key)
    if not starred:
        return kept
    wanted = (*kept, key)
    if len(wanted) > MAX_FAVOURITES or len(encode(wanted)) > MAX_BYTES:
        raise InvalidInput(
            f"this browser keeps at most {MAX_FAVOURITES} favourites; unstar one first"
        )
    return wanted


def star_id(team: str, dag_id: str) -> str:
    """The HTML id of a DAG's star, the same on its list row and on its page."""
    return element_id("star", team, dag_id)


def star_url(team: str, dag_id: str) -> str:
    """Where a DAG's star posts to."""
    return f"/_/dags/star/{segment(team)}/{segment(dag_id)}"


def star_html(team: str, dag_id: str, on: bool, *, oob: bool = False) -> Markup:
    """A DAG's favourite star (UI.md A.2.2): a toggle button, pressed when starred, its state
    in `aria-pressed`, in the glyph (filled or hollow) and in its title, not in colour alone;
    the same id on the DAG list's row and on the DAG page, so an answer swaps it in by id
    (`oob`). Built here, not by a template macro: 50 a DAG list page (W10)."""
    key = escape(f"{team}/{dag_id}")
    swap = ' hx-swap-oob="true"' if oob else ""
    pressed, glyph, on_class = ("true", "★", " is-on") if on else ("false", "☆", "")
    title = "Remove from favourites" if on else "Add to favourites"
    vals = escape('{"starred": "%s"}' % ("false" if on else "true"))
    url = escape(star_url(team, dag_id))
    return Markup(
        f'<button type="button" id="{star_id(team, dag_id)}"{swap} class="star{on_class}"'
        f' aria-pressed="{pressed}" hx-post="{url}" hx-vals="{vals}" hx-swap="none"'
        f' title="{title}"><span aria-hidden="true">{glyph}</span>'
        f'<span class="sr-only">Favourite {key}</span></button>'
    )
