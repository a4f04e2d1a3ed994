"""The log side's one thread per attempt (`logs.drain`): the worker's `begin` is not answered,
yet a secret it names is masked in every byte written after it; the attempt is named once."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

from brisa.logs.capture import Spool
from brisa.logs.config import ShippingConfig
from brisa.logs.drain import Drain
from brisa.logs.masking import Masker
from brisa.logs.shipper import Shipper
from brisa.objectstore.local import LocalObjectStore

ATTEMPT = ["team", "dag", "run", "task", 1]


def _message(op: str, **fields: object) -> bytes:
    return json.dumps({"op": op, **fields}).encode() + b"\n"


def _drained(tmp_path: Path, worker: list[bytes | str]) -> tuple[bytes, Drain, Shipper]:
    """What the spool holds after a worker's messages (bytes) and output (str) in order."""
    read_end, write_end = os.pipe()
    ours, theirs = socket.socketpair()
    spool = Spool(tmp_path / "spool" / "1.log", Masker([]))
    store = LocalObjectStore(tmp_path / "store")
    shipper = Shipper(
        spool, ShippingConfig(location="file://x"), open_store=lambda: store, origin=0
    )
    drain = Drain(read_end, theirs, spool, shipper, spool.write)
    follower = threading.Thread(target=drain.follow)
    follower.start()
    for step in worker:
        if isinstance(step, bytes):
            ours.sendall(step)  # no answer is waited for
        else:
            os.write(write_end, step.encode())
    os.close(write_end)
    ours.sendall(_message("close", timeout=1, grace=1))
    follower.join(5)
    assert drain.finish(1)
    spool.finish()
    text = spool.read(0, spool.size)
    ours.close()
    theirs.close()
    spool.close()
    return text, drain, shipper


def test_a_secret_named_in_begin_is_masked_in_what_follows_at_once(tmp_path: Path) -> None:
    for round_ in range(30):  # the pipe and the connection race each time
        secret = f"s3cr3t-value-{round_:02d}"
        begin = _message("begin", attempt=ATTEMPT, secrets=[secret])
        text, drain, shipper = _drained(
            tmp_path / str(round_), ["before begin\n", begin, f"the key is {secret}\n"]
        )
        assert secret.encode() not in text
        assert b"the key is ***" in text and b"before begin" in text
        assert drain.closing == (1.0, 1.0) and shipper.started


def test_the_attempt_is_named_once_and_what_is_not_a_message_is_ignored(tmp_path: Path) -> None:
    first = _message("begin", attempt=ATTEMPT, secrets=["first-secret-1"])
    forged = _message("begin", attempt=["x", "y", "z", "w", 9], secrets=["other-secret-2"])
    text, drain, _ = _drained(
        tmp_path, [first, b"not json\n", forged, "first-secret-1 other-secret-2\n"]
    )
    assert b"first-secret-1" not in text and b"other-secret-2" in text
    assert (tmp_path / "spool" / "1.attempt").read_text() == json.dumps(ATTEMPT)
    assert drain.closing == (1.0, 1.0)
