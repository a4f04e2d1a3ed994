"""How the DAG page words and sizes things: a schedule, a time in the DAG's own zone, the
height of a run's bar. Pure; passed to the DAG page's templates as `HELPERS`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from brisa.control import structure
from brisa.core import timetable
from brisa.core.records import RunRecord
from brisa.core.spec import CronSchedule, DagSpec
from brisa.web.ui import favourites, live, timefmt

BAR_MIN, BAR_MAX = 14, 48  # pixels: the glyph fits the shortest


def dag_zone(spec: DagSpec | None) -> str:
    """The zone a DAG's schedule is written in (UTC for intervals and manual DAGs)."""
    return spec.schedule.timezone if spec and isinstance(spec.schedule, CronSchedule) else "UTC"


def schedule_text(spec: DagSpec) -> str:
    return timetable.describe(spec.schedule)


def in_zone(value: datetime, zone_name: str) -> Markup:
    """A `<time>` in a named zone (the DAG's), labelled with the zone."""
    zone = ZoneInfo(zone_name)
    return Markup("{} {}").format(timefmt.time_tag(value, zone), zone_name)


def bar_height(seconds: float | None) -> int:
    """A run's bar: taller for longer runs, on a log scale so a 10 s run and a 3 h run both
    show (14 px when it has not started, 48 px from about 6 h)."""
    if not seconds or seconds <= 0:
        return BAR_MIN
    return min(BAR_MAX, BAR_MIN + round(2.4 * math.log2(1 + seconds)))


HELPERS: dict[str, Any] = {
    "dag_zone": dag_zone,
    "schedule_text": schedule_text,
    "in_zone": in_zone,
    "bar_height": bar_height,
    "dag_topic": live.dag_topic,
    "run_topic": live.run_topic,
    "star": favourites.star_html,
}


def graph_rows(spec: DagSpec, rows: list[str], run: RunRecord | None) -> list[dict[str, Any]]:
    """The graph's list view: each shown task with its state in `run`, upstream, downstream."""
    links = structure.neighbours(spec)
    out = []
    for tid in rows:
        ti = run.tasks.get(tid) if run else None
        up, down = links.get(tid, ([], []))
        out.append({"task_id": tid, "state": ti.state.value if ti else None,
                    "upstream": up, "downstream": down})  # fmt: skip
    return out


def between(start: datetime | None, end: datetime | None) -> float | None:
    return timefmt.between(start, end, datetime.now(UTC))


HELPERS.update(graph_rows=graph_rows, between=between)
