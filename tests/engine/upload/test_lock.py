"""One run per list: a real file lock between processes, a lease on S3 (moto) between contenders, a dead holder's
lease taken over on an injected clock. Every check counts events; none measures time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ac_sync.engine.upload.lock import LOCK_SUFFIX, Holder, ListBusy, ListLock, ListLockLost
from ac_sync.engine.upload.state import SUBSCRIBED, SyncState
from tests.engine.upload.conftest import S3

# A contender in its own process: takes the list's lock `rounds` times, logging "start"/"end" around each hold;
# with a `hold` file named, it holds the first time until that file exists; with `probe`, it first looks once
# without waiting and logs whether the list was held.
CONTENDER = """
import json, os, sys, time
from ac_sync.engine.upload.lock import ListBusy, ListLock
from ac_sync.engine.upload.state import SyncState

location, log, name, wait_s, rounds, hold, probe = sys.argv[1:8]
state = SyncState(location, "ac-acme/list-7")


def note(text):
    with open(log, "a") as fh:
        fh.write(f"{name} {text}\\n")


if probe:
    try:
        ListLock(state, wait_s=0, owner=f"contender {name}").acquire()
        note("found it free")
        sys.exit(4)
    except ListBusy:
        note("found it held")
for i in range(int(rounds)):
    lock = ListLock(state, wait_s=float(wait_s), owner=f"contender {name}", poll_s=0.01)
    try:
        lock.acquire()
    except ListBusy as exc:
        note("busy " + json.dumps(str(exc)))
        sys.exit(3)
    note(f"start {lock.attempts}")
    if hold and i == 0:
        note("holding")
        for _ in range(6000):
            if os.path.exists(hold):
                break
            time.sleep(0.01)
    note("end")
    lock.release()
"""


def contender(
    script: Path,
    location: str,
    log: Path,
    name: str,
    *,
    wait_s: float,
    rounds: int = 1,
    hold: Path | None = None,
    probe: bool = False,
) -> subprocess.Popen[bytes]:
    args = [location, str(log), name, str(wait_s), str(rounds), str(hold or ""), "probe" if probe else ""]
    return subprocess.Popen([sys.executable, str(script), *args], cwd=Path(__file__).parents[3])


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll for a condition (bounded, so a broken test fails instead of hanging); decides nothing by time."""
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "contender.py"
    path.write_text(CONTENDER)
    return path


def never_overlapping(entries: list[str]) -> list[str]:
    """The holders in order, asserting each start is followed by the same contender's end."""
    holds = [e for e in entries if " start " in e or e.endswith(" end")]
    order = []
    for start, end in zip(holds[::2], holds[1::2], strict=True):
        who = start.split()[0]
        assert " start " in start and end == f"{who} end", entries
        order.append(who)
    return order


# --- a local disk: flock between processes ---------------------------------------------------------------------


def test_a_second_process_is_told_who_holds_the_list(tmp_path: Path, script: Path) -> None:
    log, hold = tmp_path / "log", tmp_path / "release"
    location = str(tmp_path / "state")
    first = contender(script, location, log, "A", wait_s=10, hold=hold)
    wait_for(lambda: "A holding" in lines(log), "A holds the lock")
    second = contender(script, location, log, "B", wait_s=0.2)
    assert second.wait(timeout=120) == 3
    hold.touch()
    assert first.wait(timeout=120) == 0
    busy = json.loads(next(e for e in lines(log) if e.startswith("B busy")).removeprefix("B busy "))
    assert busy.startswith(f"another ac-sync run (pid {first.pid} on host {socket.gethostname()}, since ")
    assert " UTC, contender A) is syncing this list, state " in busy
    assert busy.endswith("(waited 0.2 s); wait for it, or stop it: its lock goes with it")
    assert "\n" not in busy
    assert never_overlapping(lines(log)) == ["A"]


def test_a_waiting_process_takes_the_list_once_the_holder_ends(tmp_path: Path, script: Path) -> None:
    log, hold = tmp_path / "log", tmp_path / "release"
    location = str(tmp_path / "state")
    first = contender(script, location, log, "A", wait_s=10, hold=hold)
    wait_for(lambda: "A holding" in lines(log), "A holds the lock")
    second = contender(script, location, log, "B", wait_s=120, probe=True)
    # B finds the list held, and waits; once A lets go, B gets it.
    wait_for(lambda: "B found it held" in lines(log), "B finds the list held")
    hold.touch()
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert never_overlapping(lines(log)) == ["A", "B"]
    assert lines(log).index("B found it held") < lines(log).index("A end")


def test_contending_processes_never_hold_the_list_at_once(tmp_path: Path, script: Path) -> None:
    log = tmp_path / "log"
    location = str(tmp_path / "state")
    procs = [contender(script, location, log, name, wait_s=120, rounds=8) for name in "ABC"]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    order = never_overlapping(lines(log))
    assert sorted(order) == ["A"] * 8 + ["B"] * 8 + ["C"] * 8


def test_a_killed_holder_lets_go_at_once(tmp_path: Path, script: Path) -> None:
    log, hold = tmp_path / "log", tmp_path / "never"
    location = str(tmp_path / "state")
    first = contender(script, location, log, "A", wait_s=10, hold=hold)
    wait_for(lambda: "A holding" in lines(log), "A holds the lock")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=120)
    state = SyncState(location, "ac-acme/list-7")
    with ListLock(state, wait_s=0, owner="after") as lock:
        assert lock.attempts == 1


def test_nested_locks_of_one_owner_join_and_other_owners_wait(tmp_path: Path) -> None:
    state = SyncState(str(tmp_path / "state"), "ac-acme/list-7")
    with ListLock(state, wait_s=0, owner="flow run 1") as outer:
        with ListLock(state, wait_s=0, owner="flow run 1") as inner:  # a step inside the run locks again
            assert inner.attempts == 0
        with pytest.raises(ListBusy, match=r"flow run 1\) is syncing this list"):
            ListLock(state, wait_s=0, owner="flow run 2").acquire()
        assert outer.holder() is not None and outer.holder().owner == "flow run 1"  # type: ignore[union-attr]
        state.checkpoint([("a@example.com", "h", SUBSCRIBED, None)])  # the guard lets the holder write
    assert state.guard is None
    with ListLock(state, wait_s=0, owner="flow run 2"):
        pass


async def test_the_lock_as_an_async_context_manager(tmp_path: Path) -> None:
    state = SyncState(str(tmp_path / "state"), "ac-acme/list-7")
    async with ListLock(state, wait_s=0, owner="async run"):
        with pytest.raises(ListBusy):
            await ListLock(state, wait_s=0.05, owner="another", poll_s=0.01).acquire_async()
    async with ListLock(state, wait_s=0, owner="another") as lock:
        assert lock.attempts == 1


# --- a remote store: leases on S3 --------------------------------------------------------------------------------


def s3_state(bucket: str) -> SyncState:
    return SyncState(f"{bucket}/state", "ac-acme/list-7")


def contend_in_threads(make: Callable[[str], ListLock], rounds: int) -> tuple[list[str], int]:
    """Two contenders taking the list `rounds` times each; answers who held it in order and the most at once."""
    inside, most, order = 0, 0, []
    guard = threading.Lock()
    failures: list[BaseException] = []

    def run(name: str) -> None:
        nonlocal inside, most
        try:
            for _ in range(rounds):
                with make(name):
                    with guard:
                        inside += 1
                        most = max(most, inside)
                        order.append(name)
                    time.sleep(0.01)  # hold it a little, so that the other one really contends
                    with guard:
                        inside -= 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    return order, most


def test_two_contenders_on_s3_take_turns(bucket: str) -> None:
    order, most = contend_in_threads(
        lambda name: ListLock(s3_state(bucket), wait_s=120, owner=name, poll_s=0.01, settle_s=0.05), 6
    )
    assert most == 1 and sorted(order) == ["A"] * 6 + ["B"] * 6


def test_two_contenders_take_turns_where_writes_cannot_be_conditional(bucket: str) -> None:
    def without_conditions(name: str) -> ListLock:
        lock = ListLock(s3_state(bucket), wait_s=120, owner=name, poll_s=0.01, settle_s=0.05)
        lock._backend.atomic_create = False  # type: ignore[union-attr]
        lock._backend.if_match = False  # type: ignore[union-attr]
        return lock

    order, most = contend_in_threads(without_conditions, 4)
    assert most == 1 and sorted(order) == ["A"] * 4 + ["B"] * 4


def test_a_busy_lease_names_its_holder_and_when_it_runs_out(bucket: str) -> None:
    now = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC
    holder = ListLock(s3_state(bucket), wait_s=0, owner="flow run 5f3c", clock=lambda: now, lease_s=120)
    with holder, pytest.raises(ListBusy) as exc:
        ListLock(s3_state(bucket), wait_s=0, owner="other", clock=lambda: now + 60).acquire()
    message = str(exc.value)
    assert message.startswith(
        f"another ac-sync run (pid {os.getpid()} on host {socket.gethostname()}, since 17:46 UTC, flow run 5f3c)"
        f" is syncing this list, state {bucket}/state/ac-acme/list-7; wait for it, or if it is gone, its lease runs"
        " out at 17:48 UTC and the next run takes it over (or remove "
    )
    assert message.endswith(f"(or remove {bucket}/state/ac-acme/list-7{LOCK_SUFFIX})")
    assert holder.holder() is None  # released: the record is gone


def dead_holder(bucket: str, expires: float) -> None:
    record = Holder("flow run dead", 999_999, "gone-host", expires - 60, expires, "dead-token")
    s3_state(bucket).fs.pipe_file(f"{s3_state(bucket).root}{LOCK_SUFFIX}", record.to_bytes())


def test_a_dead_holders_lease_is_taken_over_once_it_expires(bucket: str) -> None:
    dead_holder(bucket, expires=1_000.0)
    with pytest.raises(ListBusy, match=r"pid 999999 on host gone-host"):
        ListLock(s3_state(bucket), wait_s=0, owner="early", clock=lambda: 999.0).acquire()
    with ListLock(s3_state(bucket), wait_s=0, owner="late", clock=lambda: 1_001.0) as lock:
        assert lock.attempts == 1
        held = lock.holder()
        assert held is not None and held.owner == "late" and held.expires == 1_001.0 + lock.lease_s


def test_a_killed_process_leaves_a_lease_that_is_taken_over_after_its_term(
    bucket: str, s3: S3, tmp_path: Path, script: Path
) -> None:
    log, hold = tmp_path / "log", tmp_path / "never"
    env_location = f"{bucket}/state"
    first = contender(script, env_location, log, "A", wait_s=10, hold=hold)
    wait_for(lambda: "A holding" in lines(log), "A holds the lease")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=120)
    with pytest.raises(ListBusy, match=rf"pid {first.pid} on host"):
        ListLock(s3_state(bucket), wait_s=0, owner="too early").acquire()
    later = time.time() + 61  # an injected clock past the dead holder's term (60 s)
    with ListLock(s3_state(bucket), wait_s=0, owner="after", clock=lambda: later) as lock:
        assert lock.attempts == 1 and lock.holder().owner == "after"  # type: ignore[union-attr]


def test_a_lease_taken_over_stops_its_old_holder_writing(bucket: str) -> None:
    clock = [1_000.0]
    state = s3_state(bucket)
    stalled = ListLock(state, wait_s=0, owner="stalled", clock=lambda: clock[0], lease_s=60)
    stalled.acquire()
    try:
        clock[0] = 1_030.0
        stalled.renew()  # renewed at 1030: now held until 1090
        with pytest.raises(ListBusy):
            ListLock(s3_state(bucket), wait_s=0, owner="taker", clock=lambda: 1_080.0).acquire()
        taker = ListLock(s3_state(bucket), wait_s=0, owner="taker", clock=lambda: 1_091.0)
        taker.acquire()  # the stalled run missed its renewals: its lease ran out
        stalled.renew()
        with pytest.raises(ListLockLost, match=r"another run \(pid \d+ on host .*, taker\) took it over"):
            state.checkpoint([("a@example.com", "h", SUBSCRIBED, None)])
        assert not state.fs.exists(f"{state.root}/deltas")
    finally:
        stalled.release()
    assert taker.holder() is not None and taker.holder().owner == "taker"  # type: ignore[union-attr]
    taker.release()


def test_the_holder_renews_its_lease_while_it_holds(bucket: str) -> None:
    lock = ListLock(s3_state(bucket), wait_s=0, owner="renewing", lease_s=0.3)
    seen: set[float] = set()
    with lock:

        def renewed_twice() -> bool:
            held = lock.holder()
            if held is not None and held.expires is not None:
                seen.add(held.expires)
            return len(seen) >= 3

        wait_for(renewed_twice, "two renewals of the lease")
        lock.check()
    assert lock.holder() is None
