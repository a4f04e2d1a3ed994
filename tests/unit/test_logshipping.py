"""The pure parts of log shipping (masking, stamping, chunk decisions, backoff) and the
shipper driven by hand with a fake clock against an in-memory store that can fail."""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from brisa.errors import NotFound
from brisa.logs.capture import LineStamper, Spool, utc_stamp
from brisa.logs.chunking import FIRST_BACKOFF, MAX_BACKOFF, Chunker, backoff, chunk_ranges
from brisa.logs.config import ShippingConfig
from brisa.logs.masking import DEFAULT_ENV_PATTERN, Masker, env_secrets, param_secrets
from brisa.logs.shipper import Shipper
from brisa.objectstore import ObjectInfo, StoreUnavailable
from support.clock import ManualClock

# --- Masking ---------------------------------------------------------------------------------


def stream(masker: Masker, *pieces: str) -> str:
    out = b"".join(masker.feed(p.encode()) for p in pieces) + masker.flush()
    return out.decode()


def test_a_secret_written_in_one_piece_is_masked_everywhere() -> None:
    masker = Masker(["hunter22"])
    assert stream(masker, "pw=hunter22, again hunter22\n") == "pw=***, again ***\n"


def test_without_secrets_bytes_pass_through_untouched() -> None:
    assert Masker().feed(b"\xff\xfe not utf-8\n") == b"\xff\xfe not utf-8\n"


@pytest.mark.parametrize(
    "pieces",
    [
        ["token: hunt", "er22 end\n"],  # split in two writes
        ["token: hu", "nte", "r22 end\n"],  # split in three
        ["token: ", *"hunter22", " end\n"],  # one byte at a time
        ["token: hunter2", "2", " end\n"],  # all but the last byte
    ],
)
def test_a_secret_split_across_writes_is_masked(pieces: list[str]) -> None:
    masker = Masker(["hunter22"])
    emitted = [masker.feed(p.encode()) for p in pieces]
    assert b"".join(emitted) + masker.flush() == b"token: *** end\n"
    assert not any(b"hunt" in e or b"r22" in e for e in emitted)


def test_what_only_looks_like_the_start_of_a_secret_is_held_back_then_released() -> None:
    masker = Masker(["hunter22"])
    assert masker.feed(b"a hun") == b"a "  # "hun" may become the secret: held
    assert masker.feed(b"gry cat") == b"hungry cat"  # it did not
    assert masker.feed(b" hunt") == b" "
    assert masker.flush() == b"hunt"  # the stream ended: nothing more can come


def test_overlapping_secrets_leave_no_part_of_either() -> None:
    masker = Masker(["abcdef", "defghi"])
    assert stream(masker, "x abcdefghi y\n") == "x *** y\n"
    assert stream(masker, "x abcd", "efg", "hi y\n") == "x *** y\n"


def test_overlapping_secrets_split_where_only_the_second_is_still_open() -> None:
    # "abc" is final before "bcdef" is complete: the part of "bcdef" past "abc" must not leak.
    assert stream(Masker(["abcd", "bcdefg"]), "_abcde", "fg_\n") == "_***_\n"
    assert stream(Masker(["abcd", "bcdefgh"]), "_abcdef", "gh_\n") == "_***_\n"


def test_the_longest_secret_wins_when_one_is_the_start_of_another() -> None:
    masker = Masker(["pass1234", "pass12345678"])
    assert stream(masker, "a pass12345678 b pass1234 c\n") == "a *** b *** c\n"
    assert stream(masker, "a pass1234", "5678 b\n") == "a *** b\n"


def test_repeated_occurrences_become_one_mask() -> None:
    assert stream(Masker(["s3cr3t"]), "[s3cr3ts3cr3t]\n") == "[***]\n"


def test_short_values_are_not_masked() -> None:
    masker = Masker(["1", "yes", "abc"])
    assert stream(masker, "yes 1 abc\n") == "yes 1 abc\n"


def test_secrets_added_later_are_masked_from_then_on() -> None:
    masker = Masker(["first-secret"])
    assert masker.feed(b"param-value\n") == b"param-value\n"
    masker.add(["param-value"])
    assert masker.feed(b"param-value first-secret\n") == b"*** ***\n"


def test_masking_a_message_on_its_own_leaves_the_stream_alone() -> None:
    masker = Masker(["hunter22"])
    assert masker.feed(b"x hunt") == b"x "
    assert masker.mask(b"store said hunter22") == b"store said ***"
    assert masker.feed(b"er22\n") == b"***\n"


def test_non_ascii_secrets_are_masked_as_their_utf8_bytes() -> None:
    masker = Masker(["pässwörd"])
    data = "the pässwörd.\n".encode()
    assert masker.feed(data[:6]) + masker.feed(data[6:]) + masker.flush() == b"the ***.\n"


def test_any_split_of_any_text_masks_like_the_whole_text() -> None:
    rng = random.Random(4)
    secrets = ["hunter22", "unter2xyz", "22hunter", "zzzz"]
    alphabet = "hunter2xyz \n"
    for _ in range(300):
        text = "".join(rng.choice([*alphabet, *secrets]) for _ in range(40)).encode()
        whole = Masker(secrets).mask(text)
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 6)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        masker = Masker(secrets)
        assert b"".join(masker.feed(p) for p in pieces) + masker.flush() == whole
        assert not any(s.encode() in whole for s in secrets)


def test_env_secrets_are_the_values_of_matching_names() -> None:
    environ = {"DB_PASSWORD": "pw-1", "API_TOKEN": "tok-2", "HOME": "/root", "EMPTY_SECRET": ""}
    assert env_secrets(environ, DEFAULT_ENV_PATTERN) == ["pw-1", "tok-2"]
    assert env_secrets(environ, "^HOME$") == ["/root"]
    assert env_secrets(environ, "(unclosed") == ["pw-1", "tok-2"]  # a broken pattern: default


def test_param_secrets_cover_strings_numbers_and_nested_values() -> None:
    params = {"key": "abc-123", "pin": 987654, "nested": {"a": ["inner-secret"]}, "open": "x"}
    found = param_secrets(params, ["key", "pin", "nested", "missing"])
    assert found[:2] == ["abc-123", "987654"]
    assert '{"a": ["inner-secret"]}' in found and "inner-secret" in found
    assert "x" not in found


# --- Stamping --------------------------------------------------------------------------------

WALL = calendar.timegm((2026, 11, 24, 10, 0, 0)) + 0.123
STAMP = "2026-11-24T10:00:00.123Z"


def test_stamps_are_iso_8601_utc_with_milliseconds() -> None:
    assert utc_stamp(WALL) == STAMP
    assert utc_stamp(WALL + 0.877) == "2026-11-24T10:00:01.000Z"


def test_every_line_gets_the_stamp_of_the_read_it_came_in() -> None:
    stamper = LineStamper()
    assert stamper.feed(b"one\ntwo\n", WALL) == f"{STAMP} one\n{STAMP} two\n".encode()
    later = utc_stamp(WALL + 1)
    assert stamper.feed(b"three\n", WALL + 1) == f"{later} three\n".encode()


def test_a_partial_line_continues_without_a_second_stamp() -> None:
    stamper = LineStamper()
    assert stamper.feed(b"progress: 10%", WALL) == f"{STAMP} progress: 10%".encode()
    assert stamper.feed(b" 20%\nnext", WALL + 1) == f" 20%\n{utc_stamp(WALL + 1)} next".encode()


def test_a_note_gets_a_line_of_its_own_and_end_closes_the_last_line() -> None:
    stamper = LineStamper()
    stamper.feed(b"half a line", WALL)
    assert stamper.note(b"brisa: hello", WALL) == f"\n{STAMP} brisa: hello\n".encode()
    assert stamper.end() == b""
    stamper.feed(b"open", WALL)
    assert stamper.end() == b"\n"


# --- Chunk decisions -------------------------------------------------------------------------


def test_pending_bytes_are_shipped_at_each_tick_with_a_flush_just_before() -> None:
    chunker = Chunker(interval=5.0, max_bytes=1000, now=100.0)
    first = chunker.step(100.0, pending=10)
    assert (first.flush, first.ship, first.wake_at) == (False, 0, 104.8)
    flush = chunker.step(104.8, pending=10)
    assert (flush.flush, flush.ship, flush.wake_at) == (True, 0, 105.0)
    tick = chunker.step(105.0, pending=30)
    assert (tick.flush, tick.ship, tick.wake_at) == (False, 30, 109.8)


def test_whole_chunks_are_shipped_at_once_between_ticks() -> None:
    chunker = Chunker(interval=5.0, max_bytes=1000, now=0.0)
    assert chunker.step(1.0, pending=999).ship == 0
    assert chunker.step(1.1, pending=2500).ship == 2000  # the rest waits for the tick
    assert chunker.step(5.0, pending=500).ship == 500


def test_ticks_missed_while_busy_are_skipped_not_replayed() -> None:
    chunker = Chunker(interval=1.0, max_bytes=1000, now=0.0)
    assert chunker.step(3.5, pending=1).ship == 1
    step = chunker.step(3.6, pending=1)
    assert step.ship == 0 and step.wake_at == pytest.approx(3.8)


def test_nothing_is_shipped_when_nothing_is_pending() -> None:
    chunker = Chunker(interval=1.0, max_bytes=1000, now=0.0)
    assert chunker.step(10.0, pending=0).ship == 0


def test_chunk_ranges_cut_a_backlog_into_bounded_pieces() -> None:
    assert chunk_ranges(10, 35, 10) == [(10, 20), (20, 30), (30, 35)]
    assert chunk_ranges(5, 5, 10) == []


def test_backoff_doubles_up_to_a_cap_with_jitter_around_it() -> None:
    assert backoff(1, 0.5) == FIRST_BACKOFF
    assert backoff(2, 0.5) == 2 * FIRST_BACKOFF
    assert backoff(50, 0.5) == MAX_BACKOFF
    assert 0.75 * FIRST_BACKOFF <= backoff(1, 0.0) < backoff(1, 0.99) <= 1.25 * FIRST_BACKOFF


# --- The shipper, by hand --------------------------------------------------------------------

PREFIX = "team/dag/run/task/attempt=1/"


class FlakyStore:
    """An object store in memory that refuses every call while `down`."""

    location = "memory://"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.down = False
        self.puts: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        self._check()
        self.objects[key] = data
        self.puts.append(key)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        self._check()
        if key not in self.objects:
            raise NotFound(key)
        return self.objects[key][start:end]

    def list(self, prefix: str) -> list[ObjectInfo]:
        raise NotImplementedError

    def delete(self, keys: Iterable[str]) -> None:
        self._check()
        for key in keys:
            self.objects.pop(key, None)

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("object store memory:// is unavailable (connection refused)")

    def chunks(self) -> list[str]:
        return sorted(k for k in self.objects if k != PREFIX + "full.log")

    def text(self) -> str:
        return b"".join(self.objects[k] for k in self.chunks()).decode()


def shipper_on(
    tmp_path: Path, store: FlakyStore, clock: ManualClock, secrets: Iterable[str] = ()
) -> tuple[Spool, Shipper]:
    spool = Spool(tmp_path / "spool" / "1.log", Masker(secrets), wall=lambda: WALL)
    config = ShippingConfig(chunk_interval=5.0, chunk_bytes=100)
    shipper = Shipper(
        spool,
        config,
        open_store=lambda: store,
        origin=clock.now,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 0.5,
    )
    shipper.begin(("team", "dag", "run", "task", 1))
    return spool, shipper


def lines(text: str) -> list[str]:
    """The log's lines without their stamps."""
    return [re.sub(r"^\S+Z ", "", line) for line in text.splitlines()]


def test_chunks_are_shipped_at_ticks_in_order_then_replaced_by_full_log(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"one\n")
    shipper.tick(clock.now)
    assert store.objects == {}  # not before the tick
    clock.now += 5.0
    shipper.tick(clock.now)
    spool.write(b"two\n")
    clock.now += 5.0
    shipper.tick(clock.now)
    assert store.chunks() == [PREFIX + "00000001.log", PREFIX + "00000002.log"]
    assert lines(store.text()) == ["one", "two"]
    spool.finish()
    shipper.finish()
    assert shipper.complete and shipper.problem is None
    assert list(store.objects) == [PREFIX + "full.log"]
    assert lines(store.objects[PREFIX + "full.log"].decode()) == ["one", "two"]


def test_an_abandoned_shipper_stops_at_once_and_leaves_the_log_unfinished(
    tmp_path: Path,
) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"one\n")
    clock.now += 5.0
    shipper.tick(clock.now)
    spool.write(b"two\n")
    shipper.start()
    shipper.abandon()  # the namespace's lease is lost: another process ships on
    assert shipper.close(5.0) is None
    assert not shipper.complete
    assert store.chunks() == [PREFIX + "00000001.log"]  # nothing cut after, no full.log
    assert lines(store.text()) == ["one"]


def test_what_is_pending_at_the_end_goes_straight_into_full_log(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"short task\n")
    spool.finish()
    shipper.finish()
    assert shipper.complete and store.puts == [PREFIX + "full.log"]  # one request
    assert lines(store.objects[PREFIX + "full.log"].decode()) == ["short task"]


class BlinkingStore(FlakyStore):
    """Refuses its first `refusals` calls, then works."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def _check(self) -> None:
        self.refusals -= 1
        if self.refusals >= 0:
            raise StoreUnavailable("object store memory:// is unavailable (connection refused)")


def test_a_store_refusing_full_log_gets_the_rest_in_order_with_the_notes(tmp_path: Path) -> None:
    store, clock = BlinkingStore(refusals=1), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"the end\n")
    spool.finish()
    shipper._deadline = clock.now + 30.0
    shipper.finish()
    assert shipper.complete and list(store.objects) == [PREFIX + "full.log"]
    got = lines(store.objects[PREFIX + "full.log"].decode())
    assert got[0] == "the end" and "log store is unavailable" in got[1]
    assert "log store was unavailable for" in got[2]


def test_a_big_backlog_goes_in_chunks_of_at_most_chunk_bytes(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"x" * 50 + b"\n" + b"y" * 200 + b"\n")  # 302 bytes with the stamps
    shipper.tick(clock.now)  # whole chunks only, between ticks
    assert [len(store.objects[k]) for k in store.chunks()] == [100, 100, 100]
    clock.now += 5.0
    shipper.tick(clock.now)
    assert len(store.chunks()) == 4 and lines(store.text()) == ["x" * 50, "y" * 200]


def test_nothing_is_shipped_before_the_attempt_is_known(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool = Spool(tmp_path / "1.log", Masker(), wall=lambda: WALL)
    shipper = Shipper(
        spool, ShippingConfig(chunk_interval=1.0), open_store=lambda: store, origin=clock.now
    )
    spool.write(b"cannot start: refused\n")
    shipper.tick(clock.now + 10)
    spool.finish()
    shipper.finish()
    assert store.objects == {} and not shipper.complete
    assert shipper.problem and "did not start" in shipper.problem


def test_during_an_outage_the_log_waits_on_disk_and_is_shipped_late_with_a_note(
    tmp_path: Path,
) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"before\n")
    clock.now += 5.0
    shipper.tick(clock.now)
    store.down = True
    spool.write(b"during 1\n")
    clock.now += 5.0
    shipper.tick(clock.now)  # refused: kept, retried after backoff
    spool.write(b"during 2\n")
    clock.now += FIRST_BACKOFF
    shipper.tick(clock.now)  # refused again
    assert lines(store.text()) == ["before"]
    store.down = False
    clock.now += 2 * FIRST_BACKOFF
    shipper.tick(clock.now)  # the retry gets through, in order
    got = lines(store.text())
    assert got[:4] == ["before", "during 1", got[2], "during 2"]
    assert "log store is unavailable" in got[2]
    clock.now += 5.0
    shipper.tick(clock.now)  # the note about the delay follows
    note = lines(store.text())[-1]
    full = store.text()
    note_at = full.rindex("\n", 0, full.index("brisa: the log store was")) + 1
    late = note_at - len(store.objects[PREFIX + "00000001.log"])  # all between: shipped late
    assert "unavailable for 1.5s (object store memory:// is unavailable (connection" in note
    assert f"; {late} bytes of this log were shipped late, after 2 failed attempt(s)" in note


def test_the_final_chunks_are_retried_until_the_deadline(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock)
    spool.write(b"the end\n")
    spool.finish()
    store.down = True
    shipper._deadline = clock.now + 3.0
    shipper.finish()
    assert not shipper.complete
    assert shipper.problem is not None and "connection refused" in shipper.problem
    assert str(spool.path) in shipper.problem and spool.path.exists()
    assert clock.now <= 1000.0 + 3.0


def test_a_secret_cut_by_a_chunk_boundary_reaches_no_chunk(tmp_path: Path) -> None:
    store, clock = FlakyStore(), ManualClock()
    spool, shipper = shipper_on(tmp_path, store, clock, secrets=["hunter22"])
    spool.write(b"password: hunt")
    clock.now += 5.0
    shipper.tick(clock.now)  # a chunk is cut while the secret is half written
    spool.write(b"er22 done\n")
    clock.now += 5.0
    shipper.tick(clock.now)
    assert len(store.chunks()) == 2
    assert all(b"hunt" not in store.objects[k] for k in store.chunks())
    assert lines(store.text()) == ["password: *** done"]
    assert b"hunt" not in spool.path.read_bytes()
