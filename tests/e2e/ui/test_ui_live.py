"""Live updates in the browser (UI.md A.1-3/4/5, B.2 stories 9, 23, 24, 39, 60, 61): one event
stream per tab, pages that change without reload, hidden tabs that stay quiet, a cut stream
that reconnects, the 9th stream that falls back to polling, and a fragment that stops when
access is gone.

Runs its own standalone on a one-task DAG (team `default`): runs are cheap, and the stream
limit (8 per client address) is not shared with other test files' pages.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from brisa.testing.server import Standalone

DAG_FILE = """
from brisa import DAG, shell

with DAG("live_demo", schedule=None):
    shell("step", "true")

with DAG("live_logs", schedule=None):
    shell("talk", "for i in 1 2 3 4 5; do echo line $i '<b>'; done; echo ERROR at the end")
"""
RUN_PATH = "/api/v1/teams/default/dags/live_demo/runs"
TOTAL = "() => Number(document.getElementById('runs-card')?.dataset.total)"


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that can cut every connection through it, as a proxy that
    drops long streams does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("live-home")
    dags = home / "dags"
    dags.mkdir()
    (dags / "live_demo.py").write_text(DAG_FILE)
    env = {"BRISA__API__ALLOWED_HOSTS": "*"}  # pages reached through the cutting proxy too
    with Standalone(home, dags, env=env) as server:
        server.start(timeout=60)
        server.wait_until(lambda: server.find_dag("live_demo"), 30, "the DAG parsed")
        yield server


def state_is(page: Any, state: str) -> None:
    """Wait until the live indicator is in `state` (a wait, not a bound: the browser shares
    two cores with the rest of the suite)."""
    page.wait_for_function(
        "s => document.getElementById('live-indicator').dataset.state === s",
        arg=state,
        timeout=30_000,
    )


def wait_for_count(page: Any, seen: list[int], count: int) -> None:
    """Until `seen` (filled by a response handler) holds `count` entries; the page's events
    are delivered while it waits."""
    deadline = time.monotonic() + 30
    while len(seen) < count:
        assert time.monotonic() < deadline, f"{len(seen)} of {count} responses seen"
        page.wait_for_timeout(50)


def open_live(page: Any, url: str) -> None:
    page.goto(url)
    state_is(page, "live")


def indicator(page: Any) -> str:
    return str(page.locator("#live-indicator").get_attribute("data-state"))


def open_stream(server: Standalone) -> http.client.HTTPResponse:
    """An event stream held open, as another tab of the same user would."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/_/events?topics=health")
    response = conn.getresponse()
    assert response.status == 200
    return response


def trigger(server: Standalone) -> None:
    server.post(RUN_PATH, {})


def test_the_ninth_stream_is_refused_and_that_page_polls(
    live_server: Standalone, new_page: Any
) -> None:
    """Story 60: a user holds 8 streams (other tabs); a 9th tab is refused one (429), shows
    Polling and still updates (its polling ticks fast-forwarded). Every stream the tab asks
    for is one live.js decided on: the first, two back-offs (2 s, 4 s), then one a minute
    while it polls; htmx's SSE extension asks for none of its own (it used to schedule a
    retry next to live.js's, which opened a second stream when both timers fell due)."""
    streams = [open_stream(live_server) for _ in range(8)]  # 8 other tabs of this user
    try:
        ninth = new_page()
        ninth.clock.install()
        asked: list[str] = []
        refused: list[int] = []
        ninth.on("request", lambda r: asked.append(r.url) if "/_/events" in r.url else None)
        ninth.on("response", lambda r: refused.append(r.status) if "/_/events" in r.url else None)
        ninth.goto(live_server.url + "/")
        wait_for_count(ninth, refused, 1)
        state_is(ninth, "reconnecting")
        # The page's timers run only when the test moves the clock. Each jump passes the
        # back-off due (and any other timer: a jump fires every timer due in it, in the order
        # they were set); it is made once the refusal before it has arrived, so its timer
        # exists (a busy machine answers late).
        for count, jump in ((2, 2_100), (3, 4_100)):
            ninth.clock.fast_forward(jump)
            wait_for_count(ninth, refused, count)
            ninth.wait_for_timeout(300)  # the page handles the refusal it was just sent
        state_is(ninth, "polling")
        assert len(asked) == 3, asked  # live.js polls after its third failure
        assert set(refused) == {429}
        assert ninth.locator("#live-indicator").inner_text() == "Polling"
        before = ninth.evaluate(TOTAL)
        trigger(live_server)
        ninth.clock.fast_forward(30_000)  # the 30 s tick of lists
        ninth.wait_for_function(f"() => ({TOTAL})() > {before}", timeout=30_000)
        ninth.wait_for_timeout(300)
        assert len(asked) == 3, asked  # polling: the stream is tried again after 60 s only
        ninth.clock.fast_forward(30_100)
        wait_for_count(ninth, refused, 4)
        ninth.wait_for_timeout(300)
        assert len(asked) == 4, asked
        assert set(refused) == {429} and indicator(ninth) == "polling"
    finally:  # the other tests of the module need the user's streams back
        for stream in streams:
            stream.close()


def test_a_live_fragment_updates_without_reload(live_server: Standalone, page: Any) -> None:
    """Stories 9 and 23: the Overview's run counts follow a new run through the stream, with
    no reload and no request but the stream and the fragment's re-fetch."""
    open_live(page, live_server.url + "/")
    page.evaluate("() => { window.notReloaded = true; }")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    before = page.evaluate(TOTAL)
    trigger(live_server)
    page.wait_for_function(f"() => ({TOTAL})() > {before}")
    assert page.evaluate("() => window.notReloaded") is True
    assert requests and all("/_/overview/runs" in url for url in requests)
    assert indicator(page) == "live"


def test_a_hidden_page_makes_no_requests_and_catches_up_when_shown(
    live_server: Standalone, page: Any
) -> None:
    """Story 24: hidden for 60 s (visibility emulated, clock fast-forwarded) the page closes
    its stream and makes no request, even though runs change; shown again, it catches up."""
    page.clock.install()
    open_live(page, live_server.url + "/")
    before = page.evaluate(TOTAL)
    page.evaluate(
        """() => { Object.defineProperty(document, 'visibilityState', {configurable: true,
              get: () => window.pretendHidden ? 'hidden' : 'visible'});
            window.pretendHidden = true; document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    trigger(live_server)
    page.clock.fast_forward(61_000)
    state_is(page, "paused")
    trigger(live_server)
    page.clock.fast_forward(120_000)  # any timer the page has fires: none may fetch
    assert requests == []
    page.evaluate(
        "() => { window.pretendHidden = false;"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.wait_for_function(f"() => ({TOTAL})() >= {before} + 2")
    state_is(page, "live")
    assert any("last_id=" in url and "/_/events" in url for url in requests)


def test_a_cut_stream_reconnects_silently(live_server: Standalone, page: Any) -> None:
    """Story 39: a proxy cuts the stream; the indicator says Reconnecting, then Live again,
    with no dialog, and changes made meanwhile still reach the page."""
    proxy = CuttingProxy(live_server.port)
    try:
        url = f"http://127.0.0.1:{proxy.port}/"
        open_live(page, url)
        page.evaluate(
            """() => { window.states = []; new MutationObserver(() => window.states.push(
                document.getElementById('live-indicator').dataset.state)).observe(
                document.getElementById('live-indicator'), {attributes: true}); }"""
        )
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        before = page.evaluate(TOTAL)
        proxy.cut()
        trigger(live_server)
        page.wait_for_function("() => window.states.includes('reconnecting')")
        state_is(page, "live")
        page.wait_for_function(f"() => ({TOTAL})() > {before}")
        assert dialogs == []
        assert page.locator(".inline-error").count() == 0
    finally:
        proxy.close()


def test_a_fragment_refused_access_stops_refreshing(live_server: Standalone, page: Any) -> None:
    """Story 61: access is gone (the fragment answers 403): the page says so where the
    fragment was and never asks for it again."""
    open_live(page, live_server.url + "/")
    asked: list[str] = []

    def refuse(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=403, body="<p>not allowed</p>", content_type="text/html")

    page.route("**/_/overview/runs*", refuse)
    trigger(live_server)
    notice = page.get_by_role("alert").filter(has_text="no longer have access")
    notice.wait_for()
    assert len(asked) == 1
    trigger(live_server)
    page.evaluate("() => htmx.trigger(document.body, 'brisa:resync')")
    page.evaluate("() => htmx.trigger(document.body, 'brisa:tick-slow')")
    assert page.locator("#runs-card").count() == 0
    assert len(asked) == 1


def read_events(response: http.client.HTTPResponse, until: str) -> list[dict[str, str]]:
    """The events of a stream up to and including the first `until` event."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    while line := response.readline().decode():
        if line == "\n":
            if current:
                events.append(current)
                if current.get("event") == until:
                    return events
            current = {}
            continue
        field, _, value = line.rstrip("\n").partition(": ")
        current[field] = current[field] + "\n" + value if field in current else value
    return events


def stream(server: Standalone, topics: str, last_id: str = "") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.request("GET", f"/_/events?topics={topics}", headers={"Last-Event-ID": last_id})
    return conn.getresponse()


def test_log_lines_travel_on_the_stream_and_resume_exactly(live_server: Standalone) -> None:
    """A.3-3 (the base of story 39 for logs): an attempt's lines come as escaped HTML `log`
    events, numbered, then `end`; a stream resumed from the last event id sends no line twice."""
    run_id = live_server.trigger("live_logs")["run_id"]
    run = live_server.wait_for_run("live_logs", run_id, timeout=60)
    assert run["state"] == "success"
    with sqlite3.connect(live_server.home / "brisa.db") as db:
        (ti_id,) = db.execute(
            "SELECT t.id FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk"
            " WHERE r.run_id = ? AND t.task_id = 'talk'",
            (run_id,),
        ).fetchone()
    events = read_events(stream(live_server, f"attempt:{ti_id}/1@0:1"), until="end")
    logs = [e for e in events if e.get("event") == "log"]
    html = "\n".join(e["data"] for e in logs)
    assert "line 3 &lt;b&gt;" in html and "<b>" not in html
    numbers = [int(n) for n in re.findall(r'id="L(\d+)"', html)]
    assert numbers == list(range(1, len(numbers) + 1))  # every line once, in order
    assert re.search(r'class="ll"[^>]*data-lvl="error"[^>]*>.*<span class="tx">ERROR at the end<',
                     html)  # fmt: skip
    assert events[-1] == {"id": events[-1]["id"], "event": "end", "data": f"attempt:{ti_id}/1"}
    resumed = read_events(stream(live_server, f"attempt:{ti_id}/1", events[-1]["id"]), "end")
    shown = [e["event"] for e in resumed if e.get("event") in ("log", "end")]
    assert shown == ["end"]  # no line twice


def test_ctrl_c_ends_open_streams_and_the_server_stops(live_server: Standalone) -> None:
    """A standalone stopped with open tabs (SIGINT) ends their streams cleanly and exits by
    itself, without being killed. Runs last: it stops this module's server."""
    streams = [open_stream(live_server) for _ in range(3)]
    live_server.stop()
    # Exited by itself (click reports the interrupt as status 1), not killed by SIGKILL.
    assert live_server.proc is not None and live_server.proc.returncode in (0, 1)
    for stream in streams:
        # The stream's last chunk came: reading to its end raises no IncompleteRead.
        assert stream.read().startswith(b"retry: ")
