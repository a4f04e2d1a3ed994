"""The DAG processor end to end: real `python -m brisa.dagprocessor.parsing` children and a
real SQLite store.

What is asserted is what a user sees through the store (`list_dags`, `list_import_errors`):
which DAGs are listed, from which file, in which version, and which files are reported broken,
at which line and why. File changes bump the mtime with os.utime instead of sleeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from brisa.core.records import DagRecord, ImportErrorRecord
from brisa.dagprocessor.processor import DagProcessor
from brisa.store import Store, open_store
from brisa.store.tables import dag_versions
from brisa.worker.registry import process_start_time

TEAM = "data"
START = datetime(2026, 3, 1, tzinfo=UTC)


def dag_file(*dag_ids: str, command: str = "echo hello") -> str:
    """A good DAG file defining one single-task DAG per id."""
    blocks = [f'with DAG("{d}"):\n    shell("hello", "{command}")\n' for d in dag_ids]
    return "from brisa import DAG, shell\n\n" + "\n".join(blocks)


def line_of(source: str, marker: str) -> int:
    """The 1-based number of the first line of `source` containing `marker`."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if marker in line)


class Folder:
    """A DAG folder whose every write is seen as a change, without sleeping."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, source: str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.stat().st_mtime_ns if path.exists() else None
        source = textwrap.dedent(source)
        path.write_text(source)
        if previous is not None:  # same-size rewrites within one mtime tick must still count
            bumped = max(path.stat().st_mtime_ns, previous + 1_000_000_000)
            os.utime(path, ns=(bumped, bumped))
        return source

    def delete(self, name: str) -> None:
        (self.root / name).unlink()


class Clock:
    """Each call is one second later, so that `last_parsed_at` shows which pass wrote a row."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'brisa.db'}", migrate=True)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    (tmp_path / "dags").mkdir()
    return Folder(tmp_path / "dags")


def make_processor(db: Store, folder: Folder, *, parse_timeout: float = 10.0) -> DagProcessor:
    return DagProcessor(db, folder.root, team=TEAM, clock=Clock(), parse_timeout=parse_timeout)


@pytest.fixture
def processor(db: Store, folder: Folder) -> DagProcessor:
    return make_processor(db, folder)


def listed(db: Store) -> dict[str, str]:
    """Active DAG ids of the team and the file each comes from."""
    return {d.dag_id: d.fileloc for d in db.list_dags(TEAM)}


def dag(db: Store, dag_id: str) -> DagRecord:
    return db.get_dag(TEAM, dag_id)


def errors(db: Store) -> dict[str, ImportErrorRecord]:
    return {e.filename: e for e in db.list_import_errors(TEAM)}


def version_count(db: Store) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(dag_versions)).scalar_one())


# --- good files --------------------------------------------------------------------------------


def test_good_files_are_listed_with_their_file_and_an_unchanged_folder_is_not_parsed_again(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl", "etl_backfill"))
    folder.write("reports/daily.py", dag_file("daily_report"))

    assert processor.run_once() == 2
    assert listed(db) == {
        "etl": "etl.py",
        "etl_backfill": "etl.py",
        "daily_report": os.path.join("reports", "daily.py"),
    }
    assert dag(db, "etl").spec.tasks["hello"].body.command == "echo hello"
    assert errors(db) == {}
    before = {d.dag_id: (d.version_id, d.last_parsed_at) for d in db.list_dags(TEAM)}

    assert processor.run_once() == 0
    assert {d.dag_id: (d.version_id, d.last_parsed_at) for d in db.list_dags(TEAM)} == before
    assert version_count(db) == 3


def test_a_new_processor_on_an_unchanged_folder_reuses_the_stored_versions(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    processor.run_once()
    first = dag(db, "etl").version_id

    restarted = make_processor(db, folder)
    assert restarted.run_once() == 1  # a restart parses everything once more...
    assert dag(db, "etl").version_id == first  # ...but the structure is the same version
    assert version_count(db) == 1


# --- broken files: file, line, traceback; the others unaffected --------------------------------

BROKEN = {
    "syntax_error": (
        """\
        from brisa import DAG, shell

        with DAG("broken"):
            shell("a", "true"  # MARK
        """,
        "SyntaxError",
        False,
    ),
    "raises_at_import": (
        """\
        from brisa import DAG, shell

        def settings():
            raise RuntimeError("no connection to the warehouse")  # MARK

        with DAG("broken"):
            shell("a", settings())
        """,
        "RuntimeError: no connection to the warehouse",
        True,
    ),
    "duplicate_task_id": (
        """\
        from brisa import DAG, shell

        with DAG("broken"):
            shell("load", "true")
            shell("load", "false")  # MARK
        """,
        "duplicate task id 'load' in DAG 'broken' (first defined at line 4)",
        True,
    ),
    "cycle": (
        """\
        from brisa import DAG, shell

        with DAG("broken"):  # MARK
            a = shell("a", "true")
            b = shell("b", "true")
            a >> b >> a
        """,
        "has a cycle",
        True,
    ),
    "invalid_cron": (
        """\
        from datetime import datetime
        from brisa import DAG, shell

        with DAG("broken", schedule="61 * * * *", start_date=datetime(2026, 1, 1)):  # MARK
            shell("a", "true")
        """,
        "invalid cron '61 * * * *'",
        True,
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_reported_with_its_line_and_the_other_dags_are_listed(
    db: Store, folder: Folder, processor: DagProcessor, case: str
) -> None:
    source, message, has_traceback = BROKEN[case]
    folder.write("a_good.py", dag_file("good_a"))
    source = folder.write("broken.py", source)
    folder.write("z_good.py", dag_file("good_z"))

    assert processor.run_once() == 3

    assert listed(db) == {"good_a": "a_good.py", "good_z": "z_good.py"}
    assert list(errors(db)) == ["broken.py"]
    error = errors(db)["broken.py"]
    assert message in error.message
    assert error.lineno == line_of(source, "# MARK")
    if has_traceback:
        assert "Traceback (most recent call last)" in error.traceback
        assert "broken.py" in error.traceback
    if case == "syntax_error":
        assert "SyntaxError" in error.traceback


def test_a_file_that_hangs_at_import_times_out_and_the_others_are_still_parsed(
    db: Store, folder: Folder
) -> None:
    folder.write("a_good.py", dag_file("good_a"))
    folder.write("b_hangs.py", "import time  # a brisa DAG file\n\ntime.sleep(60)\n")
    folder.write("c_good.py", dag_file("good_c"))
    processor = make_processor(db, folder, parse_timeout=1.0)

    assert processor.run_once() == 3

    assert listed(db) == {"good_a": "a_good.py", "good_c": "c_good.py"}
    assert list(errors(db)) == ["b_hangs.py"]
    message = errors(db)["b_hangs.py"].message
    assert "longer than 1s" in message
    assert "parse_timeout" in message


def test_a_file_that_kills_its_parsing_process_is_reported_and_the_others_are_parsed(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("a_good.py", dag_file("good_a"))
    folder.write("b_exits.py", "import os  # a brisa DAG file\n\nos._exit(1)\n")
    folder.write("c_good.py", dag_file("good_c"))

    assert processor.run_once() == 3

    assert listed(db) == {"good_a": "a_good.py", "good_c": "c_good.py"}
    assert list(errors(db)) == ["b_exits.py"]
    assert "died" in errors(db)["b_exits.py"].message


def test_sys_exit_at_import_is_an_import_error_not_a_dead_parser(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    source = folder.write("a_exits.py", "import sys  # a brisa DAG file\n\nsys.exit(3)\n")
    folder.write("b_good.py", dag_file("good_b"))

    processor.run_once()

    assert listed(db) == {"good_b": "b_good.py"}
    error = errors(db)["a_exits.py"]
    assert error.message == "SystemExit: 3"
    assert error.lineno == line_of(source, "sys.exit")


# --- a file's life: broken, fixed, emptied, deleted --------------------------------------------


def test_fixing_a_broken_file_clears_its_import_error(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", "from brisa import DAG\n\nwith DAG('etl'):\n    oops(\n")
    processor.run_once()
    assert list(errors(db)) == ["etl.py"]
    assert listed(db) == {}

    folder.write("etl.py", dag_file("etl"))
    assert processor.run_once() == 1

    assert errors(db) == {}
    assert listed(db) == {"etl": "etl.py"}


def test_a_file_that_breaks_keeps_its_last_good_dags_and_shows_the_error(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl", "etl_backfill"))
    processor.run_once()
    good = {d.dag_id: d.version_id for d in db.list_dags(TEAM)}

    source = folder.write("etl.py", dag_file("etl") + "\nraise ValueError('half-edited')  # MARK\n")
    processor.run_once()

    assert {d.dag_id: d.version_id for d in db.list_dags(TEAM)} == good
    error = errors(db)["etl.py"]
    assert error.message == "ValueError: half-edited"
    assert error.lineno == line_of(source, "# MARK")


def test_a_file_that_times_out_after_being_good_keeps_its_dags(db: Store, folder: Folder) -> None:
    processor = make_processor(db, folder, parse_timeout=1.0)
    folder.write("etl.py", dag_file("etl"))
    processor.run_once()

    folder.write("etl.py", dag_file("etl") + "\nimport time\ntime.sleep(60)\n")
    processor.run_once()

    assert listed(db) == {"etl": "etl.py"}
    assert "longer than 1s" in errors(db)["etl.py"].message


def test_deleting_a_file_retires_its_dags_and_its_import_error(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl", "etl_backfill"))
    folder.write("broken.py", "import brisa\n\nraise ImportError('nope')\n")
    folder.write("other.py", dag_file("other"))
    processor.run_once()
    assert set(listed(db)) == {"etl", "etl_backfill", "other"}
    assert list(errors(db)) == ["broken.py"]

    folder.delete("etl.py")
    folder.delete("broken.py")
    assert processor.run_once() == 0  # nothing to parse, but the pass still acts

    assert listed(db) == {"other": "other.py"}
    assert errors(db) == {}
    retired = {d.dag_id: d.is_active for d in db.list_dags(TEAM, include_inactive=True)}
    assert retired == {"etl": False, "etl_backfill": False, "other": True}


def test_a_file_that_no_longer_defines_a_dag_retires_it(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl", "etl_backfill"))
    processor.run_once()

    folder.write("etl.py", dag_file("etl"))
    processor.run_once()
    assert listed(db) == {"etl": "etl.py"}

    folder.write("etl.py", "import brisa  # DAGs moved elsewhere\n")
    processor.run_once()
    assert listed(db) == {}
    assert errors(db) == {}


def test_a_file_that_stops_mentioning_brisa_retires_its_dags_and_its_import_error(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    folder.write("broken.py", "import brisa\n\nraise ImportError('nope')\n")
    processor.run_once()

    folder.write("etl.py", "print('no longer a DAG file')\n")
    folder.write("broken.py", "print('no longer a DAG file either')\n")
    assert processor.run_once() == 0

    assert listed(db) == {}
    assert errors(db) == {}


def test_a_retired_dag_that_comes_back_is_listed_again_in_its_old_version(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    processor.run_once()
    first = dag(db, "etl").version_id

    folder.delete("etl.py")
    processor.run_once()
    assert listed(db) == {}

    folder.write("etl.py", dag_file("etl"))
    processor.run_once()
    assert listed(db) == {"etl": "etl.py"}
    assert dag(db, "etl").version_id == first


# --- versions ----------------------------------------------------------------------------------


def test_a_structure_change_makes_a_new_version_and_a_comment_does_not(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    processor.run_once()
    first = dag(db, "etl")

    # Only comments and line numbers change: same structure, same version.
    folder.write("etl.py", "# nightly load, owned by the data team\n\n\n" + dag_file("etl"))
    assert processor.run_once() == 1
    assert dag(db, "etl").version_id == first.version_id
    assert dag(db, "etl").last_parsed_at > first.last_parsed_at
    assert version_count(db) == 1

    folder.write("etl.py", dag_file("etl", command="echo changed"))
    processor.run_once()
    second = dag(db, "etl")
    assert second.version_id != first.version_id
    assert second.spec.tasks["hello"].body.command == "echo changed"
    assert first.spec.tasks["hello"].body.command == "echo hello"  # the old version stays as is
    assert db.get_specs([first.version_id])[first.version_id][0] == first.spec
    assert version_count(db) == 2


def test_a_dag_that_changes_in_one_file_does_not_reversion_the_others(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    folder.write("other.py", dag_file("other"))
    processor.run_once()
    other = dag(db, "other")

    folder.write("etl.py", dag_file("etl", command="echo changed"))
    assert processor.run_once() == 1

    assert dag(db, "other") == other


# --- DAG ids across files ----------------------------------------------------------------------


def test_the_second_file_defining_a_dag_id_is_an_import_error_naming_the_first(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("a_etl.py", dag_file("etl"))
    source = folder.write("b_copy.py", dag_file("etl", command="echo copy"))

    processor.run_once()

    assert listed(db) == {"etl": "a_etl.py"}
    assert dag(db, "etl").spec.tasks["hello"].body.command == "echo hello"
    error = errors(db)["b_copy.py"]
    assert "'etl'" in error.message
    assert "a_etl.py" in error.message
    assert error.lineno == line_of(source, 'DAG("etl")')
    assert list(errors(db)) == ["b_copy.py"]


def test_the_same_dag_id_in_two_teams_is_not_a_conflict(db: Store, folder: Folder) -> None:
    folder.write("etl.py", dag_file("etl"))
    for team in ("data", "marketing"):
        DagProcessor(db, folder.root, team=team, clock=Clock()).run_once()

    assert {(d.team, d.dag_id) for d in db.list_dags()} == {("data", "etl"), ("marketing", "etl")}
    assert db.list_import_errors() == []


def test_renaming_a_dag_file_moves_its_dags(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("old_name.py", dag_file("etl"))
    processor.run_once()

    os.rename(folder.root / "old_name.py", folder.root / "a_new_name.py")
    processor.run_once()

    assert listed(db) == {"etl": "a_new_name.py"}
    assert errors(db) == {}


def test_moving_a_dag_to_another_existing_file_in_one_change(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("a.py", dag_file("other"))
    folder.write("b.py", dag_file("etl"))
    processor.run_once()

    folder.write("a.py", dag_file("other", "etl"))
    folder.write("b.py", "import brisa  # etl moved to a.py\n")
    processor.run_once()

    assert listed(db) == {"other": "a.py", "etl": "a.py"}
    assert errors(db) == {}


# --- which files are parsed --------------------------------------------------------------------


def test_hidden_and_private_files_and_files_not_mentioning_brisa_are_not_parsed(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("etl.py", dag_file("etl"))
    for name in (".hidden/etl2.py", "_private/etl3.py", "__pycache__/etl4.py", "_wip.py"):
        folder.write(name, dag_file(name.replace("/", "_").replace(".", "_").strip("_")))
    # Parsed, this one would be an import error.
    folder.write("notes.py", "raise RuntimeError('this is not a DAG file')\n")
    folder.write("readme.txt", dag_file("not_python"))

    assert processor.run_once() == 1

    assert listed(db) == {"etl": "etl.py"}
    assert errors(db) == {}


def test_dag_files_can_import_a_helper_module_next_to_them(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write("common.py", "def notify(who):\n    return f'mail {who}'\n")
    folder.write("_shared/naming.py", "def dag_id(name):\n    return f'team_{name}'\n")
    folder.write(
        "etl.py",
        """\
        from brisa import DAG, shell
        from common import notify
        from _shared.naming import dag_id

        with DAG(dag_id("etl")):
            shell("notify", notify("ops"))
        """,
    )
    folder.write(
        "reports/daily.py",
        """\
        from brisa import DAG, shell
        from common import notify

        with DAG("daily"):
            shell("notify", notify("analysts"))
        """,
    )

    processor.run_once()

    assert errors(db) == {}
    assert listed(db) == {"team_etl": "etl.py", "daily": os.path.join("reports", "daily.py")}
    assert dag(db, "team_etl").spec.tasks["notify"].body.command == "mail ops"


def test_prints_at_the_top_level_of_a_dag_file_do_not_break_parsing(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write(
        "a_noisy.py",
        """\
        import sys
        from brisa import DAG, shell

        print("loading the noisy DAG")
        print('{"file": "fake.py", "dags": [], "error": null}')
        sys.stdout.write("no newline at the end")

        with DAG("noisy"):
            shell("hello", "echo hello")
        """,
    )
    folder.write("b_good.py", dag_file("good_b"))

    processor.run_once()

    assert errors(db) == {}
    assert listed(db) == {"noisy": "a_noisy.py", "good_b": "b_good.py"}


def test_output_of_child_processes_of_a_dag_file_does_not_break_parsing(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write(
        "a_noisy.py",
        """\
        import os, subprocess
        from brisa import DAG, shell

        os.write(1, b"straight to file descriptor 1\\n")
        subprocess.run(["echo", "from a child process"], check=True)

        with DAG("noisy"):
            shell("hello", "echo hello")
        """,
    )
    folder.write("b_good.py", dag_file("good_b"))

    processor.run_once()

    assert errors(db) == {}
    assert listed(db) == {"noisy": "a_noisy.py", "good_b": "b_good.py"}


def test_a_mistake_in_a_dag_made_by_a_helper_names_the_helper_and_the_calling_line(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    folder.write(
        "factory.py",
        """\
        from brisa import DAG, shell

        def nightly(dag_id, cron):
            with DAG(dag_id, schedule=cron, start_date=None) as dag:  # HELPER
                shell("run", "true")
            return dag
        """,
    )
    source = folder.write(
        "etl.py",
        """\
        # Nightly brisa DAGs, made by the team's factory.

        from factory import nightly

        nightly("etl", "@manual")
        nightly("etl_bad", "not a cron")  # MARK
        """,
    )

    processor.run_once()

    error = errors(db)["etl.py"]
    assert error.lineno == line_of(source, "# MARK")
    assert "invalid cron 'not a cron'" in error.message
    assert "factory.py:4" in error.message
    assert list(errors(db)) == ["etl.py"]  # factory.py itself defines no DAG: no error


def test_a_file_defining_the_same_dag_id_twice_is_an_import_error(
    db: Store, folder: Folder, processor: DagProcessor
) -> None:
    source = folder.write("twice.py", dag_file("same", "same"))
    folder.write("other.py", dag_file("other"))

    processor.run_once()

    error = errors(db)["twice.py"]
    assert "defined twice" in error.message
    assert error.lineno == line_of(source, 'with DAG("same")') + 3  # the second definition
    assert set(listed(db)) == {"other"}


ESCAPING_FILE = """
import os, time  # a brisa DAG file
from brisa import DAG, shell

parsing = os.getsid(0)
child = os.fork()
if child == 0:  # a daemon: a session of its own, and a parent that is gone
    os.setsid()
    if os.fork() == 0:
        with open({pid_file!r}, "w") as out:
            out.write(f"{{os.getpid()}} {{parsing}}")
        time.sleep(1000)
    os._exit(0)
os.waitpid(child, 0)
while not os.path.exists({pid_file!r}):
    time.sleep(0.01)

with DAG("escaping"):
    shell("hello", "true")
{tail}
"""


@pytest.mark.parametrize("hangs", [False, True])
def test_a_daemon_a_dag_file_starts_does_not_outlive_its_parse(
    db: Store, folder: Folder, tmp_path: Path, hangs: bool
) -> None:
    pid_file = tmp_path / "daemon.pid"
    tail = "time.sleep(60)" if hangs else ""
    folder.write("escaping.py", ESCAPING_FILE.format(pid_file=str(pid_file), tail=tail))
    processor = make_processor(db, folder, parse_timeout=2.0)
    try:
        processor.run_once()
        pid, parsing = (int(n) for n in pid_file.read_text().split())
        assert os.getsid(pid) != parsing  # it did leave the parsing process's session
        assert (list(errors(db)) == ["escaping.py"]) is hangs
        deadline = time.monotonic() + 5
        while process_start_time(pid) is not None:
            assert time.monotonic() < deadline, f"the DAG file's daemon {pid} outlived its parse"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
