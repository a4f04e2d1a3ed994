"""The DAG list: DAGs filtered (text, tag, owner, last run state, paused, favourites), sorted
and paged by a keyset cursor, each with its last run, its recent runs and whether its file
fails to import.

The database filters, counts, sorts and pages the list (`store.daglist`; `dag_filter` and
`sql_cursor` are what it is asked); only the page's DAGs reach Python. Sorting by next run
needs a cron computation per DAG, so that sort alone runs in memory here (`select` over every
DAG's row); `select` is also the reference the database's results are tested against.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from brisa.control.queries import DagSummary
from brisa.errors import InvalidInput
from brisa.store.daglist import STATE_RANK, DagFilter
from brisa.store.listing import RunBrief

RECENT = 14  # bars of recent runs per row
MAX_LIMIT = 200
SORTS = ("name", "-last_run", "next_run", "last_state")
STATES = ("failed", "running", "queued", "success", "cancelled", "none")
TABS = ("all", "running", "failed", "paused", "favourites")
_STATE_RANK = STATE_RANK  # `last_state` sorting: what needs attention first

SortKey = tuple[Any, ...]


@dataclass(frozen=True)
class DagQuery:
    """What a DAG list asks for
    (`?q=&tag=&owner=&state=&paused=&favourite=1&sort=&limit=&after=`)."""

    team: str | None = None
    dag_id: str | None = None  # exactly this id (resolving a bare id)
    q: str = ""
    tag: str = ""
    owner: str = ""
    state: str = ""
    paused: bool | None = None
    favourite: bool = False  # only the DAGs of `starred`
    sort: str = "name"
    limit: int = 50
    after: str = ""
    starred: frozenset[tuple[str, str]] = frozenset()  # the caller's favourites (team, dag_id)

    def filters(self) -> dict[str, str]:
        """The filters set, by URL name (for chips that drop one)."""
        named = {"q": self.q, "tag": self.tag, "owner": self.owner, "state": self.state}
        if self.paused is not None:
            named["paused"] = "true" if self.paused else "false"
        if self.favourite:
            named["favourite"] = "1"
        return {k: v for k, v in named.items() if v}


@dataclass(frozen=True)
class DagRow:
    summary: DagSummary
    last_state: str = "none"  # of the newest run by logical date; "none" before the first
    last_date: datetime | None = None
    recent: list[RunBrief] = field(default_factory=list)  # oldest first (the page's rows)
    import_error: bool = False

    @property
    def last(self) -> RunBrief | None:
        return self.recent[-1] if self.recent else None


@dataclass(frozen=True)
class DagPage:
    rows: list[DagRow]
    total: int  # rows matching every filter
    tabs: dict[str, int]  # count per quick tab, over the rows matching text and tag
    next_cursor: str | None


def parse_paused(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidInput(f"paused must be true or false, not {value!r}")


def parse_favourite(value: str | None) -> bool:
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise InvalidInput(f"favourite must be 1 or 0, not {value!r}")


def query_from(params: Mapping[str, str], team: str | None = None) -> DagQuery:
    """A DagQuery from a query string's values (InvalidInput on a malformed one)."""
    raw_limit = params.get("limit", "") or "50"
    if not raw_limit.isdigit():
        raise InvalidInput(f"limit must be a whole number, not {raw_limit!r}")
    return check(
        DagQuery(
            team=team or params.get("team") or None,
            dag_id=params.get("dag_id") or None,
            q=params.get("q", "").strip(),
            tag=params.get("tag", "").strip(),
            owner=params.get("owner", "").strip(),
            state=params.get("state", ""),
            paused=parse_paused(params.get("paused")),
            favourite=parse_favourite(params.get("favourite")),
            sort=params.get("sort", "") or "name",
            limit=int(raw_limit),
            after=params.get("after", ""),
        )
    )


def check(query: DagQuery) -> DagQuery:
    """`query` if every value is one the list knows; InvalidInput naming the bad one."""
    if query.sort not in SORTS:
        raise InvalidInput(f"unknown sort {query.sort!r}; use one of {', '.join(SORTS)}")
    if query.state and query.state not in STATES:
        raise InvalidInput(f"unknown state {query.state!r}; use one of {', '.join(STATES)}")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, not {query.limit}")
    return query


def encode_cursor(key: SortKey) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("the `after` cursor is not one this list gave; start again") from exc
    if not isinstance(key, list) or len(key) != 3:
        raise InvalidInput("the `after` cursor is not one this list gave; start again")
    return tuple(key)


def dag_filter(query: DagQuery, teams: frozenset[str] | None) -> DagFilter:
    """What the store filters by for `query`, within the visible `teams`."""
    return DagFilter(
        teams=teams,
        team=query.team,
        dag_id=query.dag_id,
        q=query.q,
        tag=query.tag,
        owner=query.owner,
        state=query.state,
        paused=query.paused,
        starred=query.starred,
        favourite=query.favourite,
    )


def sql_cursor(sort: str, cursor: str) -> SortKey:
    """The keyset position of a cursor the database's sorts gave (`ListedDag.sort_key`);
    InvalidInput for a cursor of another sort or not one this list gave."""
    first, dag_id, team = decode_cursor(cursor)
    if sort == "-last_run":
        fits = first is None or isinstance(first, str)
        if isinstance(first, str):
            try:
                datetime.fromisoformat(first)
            except ValueError:
                fits = False
    elif sort == "last_state":
        fits = isinstance(first, int) and not isinstance(first, bool)
    else:
        fits = isinstance(first, str)
    if not (fits and isinstance(dag_id, str) and isinstance(team, str)):
        raise InvalidInput("the `after` cursor belongs to another sort; start again")
    return (first, dag_id, team)


def _stamp(value: datetime | None, sign: int = 1) -> float:
    return math.inf if value is None else sign * value.timestamp()


def sort_key(sort: str) -> Callable[[DagRow], SortKey]:
    """A total order for `sort`: the sorted value, then dag id and team (so keys are unique).
    Infinity (a DAG without runs or next run) is encoded as a large number in cursors."""

    def first(row: DagRow) -> Any:
        if sort == "-last_run":
            return _stamp(row.last_date, -1)
        if sort == "next_run":
            return _stamp(row.summary.next_run)
        if sort == "last_state":
            return _STATE_RANK.get(row.last_state, 9)
        return row.summary.record.dag_id.lower()

    def key(row: DagRow) -> SortKey:
        value = first(row)
        if isinstance(value, float) and math.isinf(value):
            value = 1e300  # JSON has no infinity
        return (value, row.summary.record.dag_id, row.summary.record.team)

    return key


def matches_text(row: DagRow, q: str, tag: str, owner: str = "") -> bool:
    record = row.summary.record
    if tag and tag not in record.spec.tags:
        return False
    if owner and record.spec.owner != owner:
        return False
    if not q:
        return True
    needle = q.lower()
    haystack = (record.dag_id, f"{record.team}/{record.dag_id}", record.spec.description)
    return any(needle in text.lower() for text in haystack)


def _key(row: DagRow) -> tuple[str, str]:
    return (row.summary.record.team, row.summary.record.dag_id)


def in_tab(row: DagRow, tab: str, starred: frozenset[tuple[str, str]] = frozenset()) -> bool:
    if tab == "favourites":
        return _key(row) in starred
    if tab == "paused":
        return row.summary.record.is_paused
    if tab in ("running", "failed"):
        return row.last_state == tab
    return True


def matches_state(row: DagRow, query: DagQuery) -> bool:
    if query.paused is not None and row.summary.record.is_paused != query.paused:
        return False
    if query.favourite and _key(row) not in query.starred:
        return False
    return not query.state or row.last_state == query.state


def select(rows: Sequence[DagRow], query: DagQuery) -> DagPage:
    """Filter, count, sort and cut one page (pure). The rows of the page have no recent runs
    yet: the caller reads those for the page's DAGs only."""
    texted = [r for r in rows if matches_text(r, query.q, query.tag, query.owner)]
    tabs = {tab: sum(1 for r in texted if in_tab(r, tab, query.starred)) for tab in TABS}
    chosen = sorted((r for r in texted if matches_state(r, query)), key=sort_key(query.sort))
    total = len(chosen)
    if query.after:
        after = decode_cursor(query.after)
        key = sort_key(query.sort)
        chosen = [r for r in chosen if _after(key(r), after)]
    page = chosen[: query.limit]
    more = len(chosen) > query.limit
    cursor = encode_cursor(sort_key(query.sort)(page[-1])) if more and page else None
    return DagPage(page, total, tabs, cursor)


def _after(key: SortKey, cursor: SortKey) -> bool:
    try:
        return key > cursor
    except TypeError as exc:  # a cursor of another sort
        raise InvalidInput("the `after` cursor belongs to another sort; start again") from exc


def tag_choices(tags: Sequence[Sequence[str]], prefix: str, limit: int = 20) -> list[str]:
    """Distinct tags starting with `prefix` (then containing it), case-insensitively."""
    every = sorted({t for group in tags for t in group}, key=lambda t: (t.lower(), t))
    needle = prefix.lower()
    starts = [t for t in every if t.lower().startswith(needle)]
    contains = [t for t in every if needle in t.lower() and t not in starts]
    return (starts + contains)[:limit]
