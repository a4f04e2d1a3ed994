"""Running tasks as another OS user: `[executor] run_as_user` (ADR 0008).

The worker starts as the user Brisa runs as, records itself, receives its token, starts its
log process and puts the run's code in place; then, before any user code (the DAG file's
import included), it drops to the task user's uid, gid and supplementary groups for good
(`become`). The task then cannot read what only Brisa's user may: the database, the config,
the secret key, the spool and the log folders, the other workers' processes. Dropping from
root also makes the worker non-dumpable, so processes of the task user cannot read its memory
or its /proc entries either.

The executor checks at start-up (`check`) that the user exists and that this process may
switch to it: root, or the capabilities CAP_SETUID and CAP_SETGID.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from brisa.errors import ConfigError

CAP_SETGID, CAP_SETUID = 6, 7


@dataclass(frozen=True)
class TaskUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def lookup(name: str) -> TaskUser:
    """The user `name` from the system's user database; KeyError when there is none."""
    entry = pwd.getpwnam(name)
    groups = tuple(os.getgrouplist(name, entry.pw_gid))
    return TaskUser(name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def can_switch_users(status: str | None = None) -> bool:
    """Whether this process may change its uid and gid: root, or CAP_SETUID and CAP_SETGID
    in its effective capabilities (`status`: the text of /proc/self/status)."""
    if status is None:
        if os.geteuid() == 0:
            return True
        try:
            with open("/proc/self/status") as f:
                status = f.read()
        except OSError:
            return False
    effective = next(
        (line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), "0"
    )
    caps = int(effective, 16)
    return all(caps >> cap & 1 for cap in (CAP_SETUID, CAP_SETGID))


def check(name: str, *, can_switch: bool | None = None) -> TaskUser:
    """The task user, if tasks can run as it from this process; else ConfigError saying why
    and what to do."""
    where = f"[executor] run_as_user = {name!r}"
    try:
        user = lookup(name)
    except KeyError:
        raise ConfigError(
            f"{where}: no such user on this machine; create it or fix the name"
        ) from None
    if user.uid == 0:
        raise ConfigError(f"{where}: tasks would run as root; name an unprivileged user")
    if not (can_switch_users() if can_switch is None else can_switch):
        raise ConfigError(
            f"{where}: this process (uid {os.geteuid()}) cannot switch users; run the "
            "scheduler as root, or give it CAP_SETUID and CAP_SETGID, or leave run_as_user empty"
        )
    return user


def become(user: TaskUser) -> None:
    """Drop this process to `user` for good: supplementary groups, gid, then uid (the order
    that keeps the right to change the next). Raises OSError when it cannot."""
    os.setgroups(list(user.groups))
    os.setgid(user.gid)
    os.setuid(user.uid)
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (user.uid,) * 2 + (user.gid,) * 2:
        raise PermissionError(f"still running as uid {os.geteuid()} after switching to {user.name}")
    os.environ.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
