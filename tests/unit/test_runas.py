"""`[executor] run_as_user` is checked at start-up: a user that does not exist, root, or a
process that cannot switch users is refused with a message saying what to do."""

from __future__ import annotations

import os
import pwd

import pytest

from brisa.errors import ConfigError
from brisa.worker import runas

SOMEONE = next((p for p in pwd.getpwall() if p.pw_uid != 0), None)


def test_an_unknown_user_is_refused() -> None:
    with pytest.raises(ConfigError, match="no such user"):
        runas.check("no-such-user-brisa-7361", can_switch=True)


def test_root_is_refused() -> None:
    with pytest.raises(ConfigError, match="unprivileged user"):
        runas.check(pwd.getpwuid(0).pw_name, can_switch=True)


@pytest.mark.skipif(SOMEONE is None, reason="no unprivileged user on this machine")
def test_a_process_that_cannot_switch_users_is_refused() -> None:
    assert SOMEONE is not None
    with pytest.raises(ConfigError, match="CAP_SETUID and CAP_SETGID"):
        runas.check(SOMEONE.pw_name, can_switch=False)
    user = runas.check(SOMEONE.pw_name, can_switch=True)
    assert (user.uid, user.gid) == (SOMEONE.pw_uid, SOMEONE.pw_gid)
    assert user.gid in user.groups


def test_switching_needs_both_capabilities() -> None:
    both = f"CapEff:\t{(1 << 6 | 1 << 7):016x}\n"
    only_setuid = f"CapEff:\t{1 << 7:016x}\n"
    assert runas.can_switch_users(both)
    assert not runas.can_switch_users(only_setuid)
    assert not runas.can_switch_users("CapEff:\t0000000000000000\n")


def test_this_process_can_switch_when_root() -> None:
    if os.geteuid() == 0:
        assert runas.can_switch_users()
