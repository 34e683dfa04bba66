"""Monitors and supervisors: exit notices, restart strategies and policies, intensity, shutdown.

Synchronisation is by queues and events only. A test that needs the supervisor to have handled
a child's exit first waits for its own monitor of that child: callbacks run in the order they
were added, and the supervisor's was added when it started the child, so by then the
supervisor's exit message is queued ahead of anything the test asks next.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.monitoring import (
    ExitNotice,
    ExitReason,
    MonitoredActor,
    demonitor,
    monitor,
)
from rtmp_actors.actors.supervisor import (
    ChildInfo,
    ChildSpec,
    ChildStartError,
    RestartIntensityExceededError,
    RestartPolicy,
    Strategy,
    Supervisor,
)

TIMEOUT = 5.0

Log = queue.Queue[tuple[str, str]]


class CrashError(Exception):
    pass


class Worker(MonitoredActor):
    """Reports its life to a queue; "crash" makes it fail, "quit" makes it stop itself.

    Its hooks deliberately do not call super(): monitoring must not depend on it.
    """

    def __init__(
        self,
        name: str,
        log: Log,
        *,
        hang: threading.Event | None = None,
        fail_on_start: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.hang = hang
        self.fail_on_start = fail_on_start
        if not fail_on_start:
            # Here rather than in on_start: __init__ runs in the thread calling start(), so
            # siblings log their starts in a deterministic order.
            self.log.put(("start", self.name))

    def on_start(self) -> None:
        if self.fail_on_start:
            self.log.put(("start-failed", self.name))
            raise CrashError(f"{self.name} cannot start")

    def on_stop(self) -> None:
        self.log.put(("stop", self.name))
        if self.hang is not None:
            self.hang.wait(30)

    def on_failure(self, *_exc_info: object) -> None:
        self.log.put(("fail", self.name))

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise CrashError(self.name)
        if message == "quit":
            self.stop()
            return None
        return super().on_receive(message)


class Plain(pykka.ThreadingActor):
    pass


def worker(
    name: str, log: Log, restart: RestartPolicy = RestartPolicy.PERMANENT, **kwargs: Any
) -> ChildSpec:
    return ChildSpec(name, functools.partial(Worker.start, name, log, **kwargs), restart=restart)


def take(log: Log, count: int) -> list[tuple[str, str]]:
    return [log.get(timeout=TIMEOUT) for _ in range(count)]


def watch(ref: pykka.ActorRef[Any]) -> queue.Queue[ExitNotice]:
    notices: queue.Queue[ExitNotice] = queue.Queue()
    monitor(ref, notices.put)
    return notices


def exit_of(ref: pykka.ActorRef[Any]) -> ExitNotice:
    return watch(ref).get(timeout=TIMEOUT)


def kids(sup: pykka.ActorRef[Supervisor]) -> dict[str, ChildInfo]:
    children = sup.proxy().which_children().get(timeout=TIMEOUT)
    return {c.child_id: c for c in children}


def ref_of(sup: pykka.ActorRef[Supervisor], child_id: str) -> pykka.ActorRef[Any]:
    ref = kids(sup)[child_id].actor_ref
    assert ref is not None
    return ref


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- monitoring --


def test_monitor_fires_once_on_normal_stop_after_cleanup() -> None:
    log: Log = queue.Queue()
    ref = Worker.start("w", log)
    assert take(log, 1) == [("start", "w")]
    calls: list[ExitNotice] = []
    done = threading.Event()

    def callback(notice: ExitNotice) -> None:
        assert log.get_nowait() == ("stop", "w")  # on_stop has already run
        calls.append(notice)
        done.set()

    monitor(ref, callback)
    ref.stop(timeout=TIMEOUT)
    assert done.wait(TIMEOUT)
    assert exit_of(ref) == calls[0]  # a later monitor gets the same, stored notice
    assert calls == [ExitNotice(ref.actor_urn, "Worker", ExitReason.NORMAL, None)]


def test_monitor_reports_failure_with_the_exception() -> None:
    log: Log = queue.Queue()
    ref = Worker.start("w", log)
    notices = watch(ref)
    ref.tell("crash")
    notice = notices.get(timeout=TIMEOUT)
    assert notice.reason is ExitReason.FAILED
    assert isinstance(notice.exception, CrashError)
    assert str(notice.exception) == "w"
    assert take(log, 2) == [("start", "w"), ("fail", "w")]
    assert notices.empty()


class FailsTwice(MonitoredActor):
    """Fails in a message, then again in on_failure: only the first exception is reported."""

    def on_receive(self, message: Any) -> Any:
        raise CrashError("first")

    def on_failure(self, *_exc_info: object) -> None:
        raise CrashError("second")


def test_monitor_reports_only_the_first_of_several_failures() -> None:
    ref = FailsTwice.start()
    calls: list[ExitNotice] = []
    done = threading.Event()
    monitor(ref, lambda n: (calls.append(n), done.set()))
    ref.tell("anything")
    assert done.wait(TIMEOUT)
    assert exit_of(ref).reason is ExitReason.FAILED
    assert len(calls) == 1
    assert str(calls[0].exception) == "first"


class StopRaises(MonitoredActor):
    def on_stop(self) -> None:
        raise CrashError("in on_stop")


def test_failing_on_stop_is_a_failure() -> None:
    ref = StopRaises.start()
    notices = watch(ref)
    ref.stop(timeout=TIMEOUT)
    notice = notices.get(timeout=TIMEOUT)
    assert notice.reason is ExitReason.FAILED
    assert str(notice.exception) == "in on_stop"


def test_asked_exception_does_not_stop_the_actor() -> None:
    ref = FailsTwice.start()
    notices = watch(ref)
    with pytest.raises(CrashError):
        ref.ask("anything", timeout=TIMEOUT)
    assert ref.is_alive()
    ref.stop(timeout=TIMEOUT)
    assert notices.get(timeout=TIMEOUT).reason is ExitReason.NORMAL


def test_no_notice_lost_between_start_and_monitor() -> None:
    # on_start fails at once, so the actor is often gone before monitor() is called.
    log: Log = queue.Queue()
    for _ in range(20):
        ref = Worker.start("w", log, fail_on_start=True)
        notice = exit_of(ref)
        assert notice.reason is ExitReason.FAILED
        assert isinstance(notice.exception, CrashError)


def test_monitor_of_an_exited_actor_calls_back_at_once_in_the_caller() -> None:
    log: Log = queue.Queue()
    ref = Worker.start("w", log)
    ref.stop(timeout=TIMEOUT)
    exit_of(ref)  # the thread has finished its exit
    threads: list[threading.Thread] = []
    monitor(ref, lambda _notice: threads.append(threading.current_thread()))
    assert threads == [threading.current_thread()]


def test_callback_errors_are_logged_and_do_not_stop_other_callbacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: Log = queue.Queue()
    ref = Worker.start("w", log)
    dead = Worker.start("dead", log)
    dead.stop(timeout=TIMEOUT)

    def broken(_notice: ExitNotice) -> None:
        raise RuntimeError("broken callback")

    monitor(ref, broken)
    monitor(ref, lambda _notice: dead.tell("too late"))
    notices = watch(ref)
    with caplog.at_level(logging.DEBUG, logger="rtmp_actors.actors.monitoring"):
        ref.stop(timeout=TIMEOUT)
        assert notices.get(timeout=TIMEOUT).reason is ExitReason.NORMAL
    records = [r for r in caplog.records if r.name == "rtmp_actors.actors.monitoring"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.DEBUG]
    assert records[0].exc_info is not None
    assert "receiver is dead" in records[1].getMessage()


def test_a_demonitored_callback_is_not_called_and_the_others_are() -> None:
    log: Log = queue.Queue()
    ref = Worker.start("w", log)
    called: list[str] = []

    def dropped(_notice: ExitNotice) -> None:
        called.append("dropped")

    monitor(ref, dropped)
    demonitor(ref, dropped)
    demonitor(ref, dropped)  # twice, or never monitored: nothing happens
    notices = watch(ref)
    ref.stop(timeout=TIMEOUT)
    assert notices.get(timeout=TIMEOUT).reason is ExitReason.NORMAL
    assert called == []


def test_monitor_needs_a_monitored_actor() -> None:
    ref = Plain.start()
    with pytest.raises(TypeError, match="not a MonitoredActor"):
        monitor(ref, lambda _notice: None)


class Exits(MonitoredActor):
    def on_receive(self, message: Any) -> Any:
        raise SystemExit(3)


def test_base_exception_is_reported_as_killed() -> None:
    ref = Exits.start()
    notices = watch(ref)
    ref.tell("exit")
    notice = notices.get(timeout=TIMEOUT)
    assert notice.reason is ExitReason.KILLED
    assert isinstance(notice.exception, SystemExit)


# -- supervisor: strategies --


def test_one_for_one_restarts_only_the_failed_child() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker(n, log) for n in "abc"])
    assert take(log, 3) == [("start", "a"), ("start", "b"), ("start", "c")]
    before = kids(sup)
    old_b = ref_of(sup, "b")
    old_b.tell("crash")
    assert take(log, 2) == [("fail", "b"), ("start", "b")]
    after = kids(sup)
    assert after["a"].actor_urn == before["a"].actor_urn
    assert after["c"].actor_urn == before["c"].actor_urn
    assert after["b"].actor_urn not in (None, before["b"].actor_urn)
    assert all(c.alive for c in after.values())
    assert not old_b.is_alive()
    assert log.empty()


def test_one_for_all_restarts_every_child() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker(n, log) for n in "abc"], strategy=Strategy.ONE_FOR_ALL)
    take(log, 3)
    old = {k: c.actor_ref for k, c in kids(sup).items()}
    notices = {k: watch(r) for k, r in old.items() if r is not None}
    ref_of(sup, "b").tell("crash")
    assert take(log, 6) == [
        ("fail", "b"),
        ("stop", "c"),
        ("stop", "a"),
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
    ]
    for q in notices.values():  # all old incarnations have exited...
        q.get(timeout=TIMEOUT)
    new = kids(sup)  # ...and the supervisor has seen their exits, restarting nothing more
    for k, ref in old.items():
        assert ref is not None
        assert not ref.is_alive()
        assert new[k].actor_urn != ref.actor_urn
        assert new[k].alive
    assert log.empty()


def test_rest_for_one_restarts_the_failed_and_later_children_in_order() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker(n, log) for n in "abcd"], strategy=Strategy.REST_FOR_ONE)
    take(log, 4)
    before = kids(sup)
    ref_of(sup, "b").tell("crash")
    assert take(log, 6) == [
        ("fail", "b"),
        ("stop", "d"),
        ("stop", "c"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ]
    after = kids(sup)
    assert after["a"].actor_urn == before["a"].actor_urn
    assert all(after[k].actor_urn != before[k].actor_urn for k in "bcd")
    assert list(after) == ["a", "b", "c", "d"]


def test_temporary_sibling_is_dropped_by_a_group_restart() -> None:
    log: Log = queue.Queue()
    specs = [worker("a", log), worker("t", log, RestartPolicy.TEMPORARY)]
    sup = Supervisor.start(specs, strategy=Strategy.ONE_FOR_ALL)
    take(log, 2)
    ref_of(sup, "a").tell("crash")
    assert take(log, 3) == [("fail", "a"), ("stop", "t"), ("start", "a")]
    assert list(kids(sup)) == ["a"]


# -- supervisor: restart policies --


def test_permanent_child_is_restarted_even_after_a_normal_exit() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker("p", log)])
    take(log, 1)
    old = ref_of(sup, "p")
    old.tell("quit")
    assert take(log, 2) == [("stop", "p"), ("start", "p")]
    assert kids(sup)["p"].actor_urn != old.actor_urn


def test_transient_child_is_restarted_only_after_a_failure() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker("t", log, RestartPolicy.TRANSIENT)])
    take(log, 1)
    ref_of(sup, "t").tell("crash")
    assert take(log, 2) == [("fail", "t"), ("start", "t")]
    ref = ref_of(sup, "t")
    ref.tell("quit")
    assert exit_of(ref).reason is ExitReason.NORMAL
    info = kids(sup)["t"]  # kept, like OTP, but not running
    assert (info.actor_ref, info.actor_urn, info.alive) == (None, None, False)
    assert take(log, 1) == [("stop", "t")]
    assert log.empty()


def test_temporary_child_is_never_restarted() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker("t", log, RestartPolicy.TEMPORARY), worker("p", log)])
    take(log, 2)
    ref = ref_of(sup, "t")
    ref.tell("crash")
    assert exit_of(ref).reason is ExitReason.FAILED
    assert list(kids(sup)) == ["p"]
    assert take(log, 1) == [("fail", "t")]
    assert log.empty()


# -- supervisor: restart intensity and escalation --


def test_too_many_restarts_stop_everything_and_fail_the_supervisor() -> None:
    log: Log = queue.Queue()
    clock = FakeClock()
    specs = [worker("a", log), worker("b", log), worker("c", log)]
    sup = Supervisor.start(specs, max_restarts=2, max_seconds=5.0, clock=clock)
    sup_exit = watch(sup)
    take(log, 3)
    for _ in range(2):
        ref_of(sup, "b").tell("crash")
        assert take(log, 2) == [("fail", "b"), ("start", "b")]
        clock.now += 2.0  # two restarts within 4 s
    last = kids(sup)
    ref_of(sup, "b").tell("crash")
    notice = sup_exit.get(timeout=TIMEOUT)
    assert take(log, 3) == [("fail", "b"), ("stop", "c"), ("stop", "a")]
    assert notice.reason is ExitReason.FAILED
    assert isinstance(notice.exception, RestartIntensityExceededError)
    assert "3 restarts in 5.0 s" in str(notice.exception)
    assert isinstance(notice.exception.__cause__, CrashError)
    for info in last.values():
        assert info.actor_ref is not None
        assert not info.actor_ref.is_alive()


def test_restarts_outside_the_window_are_forgotten() -> None:
    log: Log = queue.Queue()
    clock = FakeClock()
    sup = Supervisor.start([worker("a", log)], max_restarts=1, max_seconds=5.0, clock=clock)
    sup_exit = watch(sup)
    take(log, 1)
    for _ in range(3):  # one restart every 5 s never exceeds 1 in 5 s
        ref_of(sup, "a").tell("crash")
        assert take(log, 2) == [("fail", "a"), ("start", "a")]
        clock.now += 5.0
    ref_of(sup, "a").tell("crash")
    assert take(log, 2) == [("fail", "a"), ("start", "a")]
    ref_of(sup, "a").tell("crash")  # the second within 5 s
    assert sup_exit.get(timeout=TIMEOUT).reason is ExitReason.FAILED
    assert take(log, 1) == [("fail", "a")]


def test_child_failing_in_on_start_exhausts_the_intensity() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker("w", log, fail_on_start=True)], max_restarts=2)
    notice = exit_of(sup)
    assert take(log, 3) == [("start-failed", "w")] * 3
    assert isinstance(notice.exception, RestartIntensityExceededError)
    assert log.empty()


def test_a_restart_whose_start_raises_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    log: Log = queue.Queue()
    calls = 0

    def flaky_start() -> pykka.ActorRef[Any]:
        nonlocal calls
        calls += 1
        if calls == 2:
            log.put(("start-raised", "a"))
            raise CrashError("flaky")
        return Worker.start("a", log)

    sup = Supervisor.start(
        [ChildSpec("a", flaky_start), worker("b", log)], strategy=Strategy.ONE_FOR_ALL
    )
    sup_exit = watch(sup)
    take(log, 2)
    old_b = ref_of(sup, "b")
    old_b_exit = watch(old_b)
    with caplog.at_level(logging.ERROR, logger="rtmp_actors.actors.supervisor"):
        ref_of(sup, "a").tell("crash")
        assert take(log, 5) == [
            ("fail", "a"),
            ("stop", "b"),
            ("start-raised", "a"),
            ("start", "a"),  # the retry restarts the whole group again
            ("start", "b"),
        ]
    old_b_exit.get(timeout=TIMEOUT)
    now = kids(sup)
    assert now["a"].alive
    assert now["b"].alive
    assert now["b"].actor_urn != old_b.actor_urn
    assert log.empty()
    assert sup_exit.empty()
    assert any("'a' failed to restart" in r.getMessage() for r in caplog.records)


def test_nested_supervisor_gives_up_and_its_parent_restarts_it() -> None:
    log: Log = queue.Queue()

    def start_inner() -> pykka.ActorRef[Supervisor]:
        return Supervisor.start([worker("w", log)], max_restarts=0)

    parent = Supervisor.start(
        [worker("x", log), ChildSpec("inner", start_inner, shutdown_timeout=10.0)],
        max_restarts=1,
    )
    parent_exit = watch(parent)
    assert take(log, 2) == [("start", "x"), ("start", "w")]
    before = kids(parent)
    inner = ref_of(parent, "inner")
    inner_exit = watch(inner)
    ref_of(inner, "w").tell("crash")
    notice = inner_exit.get(timeout=TIMEOUT)
    assert notice.reason is ExitReason.FAILED
    assert isinstance(notice.exception, RestartIntensityExceededError)
    assert take(log, 2) == [("fail", "w"), ("start", "w")]  # the new inner's worker
    after = kids(parent)
    assert after["x"].actor_urn == before["x"].actor_urn
    assert after["inner"].actor_urn != before["inner"].actor_urn
    assert after["inner"].alive
    assert parent_exit.empty()

    # Again, and the parent (max_restarts=1) gives up too: the failure climbs the tree.
    ref_of(ref_of(parent, "inner"), "w").tell("crash")
    notice = parent_exit.get(timeout=TIMEOUT)
    assert isinstance(notice.exception, RestartIntensityExceededError)
    assert isinstance(notice.exception.__cause__, RestartIntensityExceededError)
    assert isinstance(notice.exception.__cause__.__cause__, CrashError)
    assert take(log, 2) == [("fail", "w"), ("stop", "x")]


# -- supervisor: shutdown --


def test_stopping_the_supervisor_stops_children_in_reverse_order() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker(n, log) for n in "abc"])
    sup_exit = watch(sup)
    take(log, 3)
    refs = [ref_of(sup, n) for n in "abc"]
    assert sup.stop(timeout=TIMEOUT)
    assert take(log, 3) == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    assert sup_exit.get(timeout=TIMEOUT).reason is ExitReason.NORMAL
    assert not any(r.is_alive() for r in refs)


def test_stop_all_stops_the_supervisor_before_its_initial_children() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker(n, log) for n in "abc"])
    sup_exit = watch(sup)
    take(log, 3)
    pykka.ActorRegistry.stop_all(timeout=TIMEOUT)
    assert take(log, 3) == [("stop", "c"), ("stop", "b"), ("stop", "a")]  # no restarts
    assert sup_exit.get(timeout=TIMEOUT).reason is ExitReason.NORMAL
    assert log.empty()


def test_a_hanging_child_does_not_hang_the_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    log: Log = queue.Queue()
    release = threading.Event()
    hanging = ChildSpec(
        "h", functools.partial(Worker.start, "h", log, hang=release), shutdown_timeout=0.2
    )
    sup = Supervisor.start([worker("a", log), hanging, worker("c", log)])
    take(log, 3)
    h_exit = watch(ref_of(sup, "h"))
    try:
        with caplog.at_level(logging.WARNING, logger="rtmp_actors.actors.supervisor"):
            started = time.monotonic()
            assert sup.stop(timeout=TIMEOUT)  # raises pykka.Timeout if it hangs
            elapsed = time.monotonic() - started
        assert take(log, 3) == [("stop", "c"), ("stop", "h"), ("stop", "a")]
        assert elapsed < 0.2 + 2.0
        assert h_exit.empty()  # still stuck in on_stop
        assert any(
            "'h'" in r.getMessage() and "did not stop" in r.getMessage() for r in caplog.records
        )
    finally:
        release.set()
    assert h_exit.get(timeout=TIMEOUT).reason is ExitReason.NORMAL


# -- supervisor: dynamic children and start errors --


def test_dynamic_children() -> None:
    log: Log = queue.Queue()
    sup = Supervisor.start([worker("a", log)])
    proxy = sup.proxy()
    take(log, 1)

    ref = proxy.start_child(worker("x", log)).get(timeout=TIMEOUT)
    assert take(log, 1) == [("start", "x")]
    assert list(kids(sup)) == ["a", "x"]
    assert kids(sup)["x"].actor_urn == ref.actor_urn
    with pytest.raises(ValueError, match="already has a child 'x'"):
        proxy.start_child(worker("x", log)).get(timeout=TIMEOUT)

    ref.tell("crash")  # supervised like the others
    assert take(log, 2) == [("fail", "x"), ("start", "x")]

    new_ref = ref_of(sup, "x")
    x_exit = watch(new_ref)
    assert proxy.terminate_child("x").get(timeout=TIMEOUT) is True
    assert take(log, 1) == [("stop", "x")]
    assert x_exit.get(timeout=TIMEOUT).reason is ExitReason.NORMAL
    assert list(kids(sup)) == ["a"]  # and not restarted
    assert log.empty()
    with pytest.raises(KeyError, match="no child 'x'"):
        proxy.terminate_child("x").get(timeout=TIMEOUT)

    def broken_start() -> pykka.ActorRef[Any]:
        raise CrashError("cannot")

    with pytest.raises(ChildStartError, match="'y'") as excinfo:
        proxy.start_child(ChildSpec("y", broken_start)).get(timeout=TIMEOUT)
    assert isinstance(excinfo.value.__cause__, CrashError)

    plain_refs: list[pykka.ActorRef[Any]] = []

    def start_plain() -> pykka.ActorRef[Any]:
        plain_refs.append(Plain.start())
        return plain_refs[-1]

    with pytest.raises(TypeError, match="MonitoredActor"):
        proxy.start_child(ChildSpec("z", start_plain)).get(timeout=TIMEOUT)
    assert plain_refs[0].actor_stopped.wait(TIMEOUT)
    assert list(kids(sup)) == ["a"]
    assert sup.is_alive()


def test_initial_start_failure_stops_the_children_already_started() -> None:
    log: Log = queue.Queue()

    def broken_start() -> pykka.ActorRef[Any]:
        raise CrashError("cannot")

    with pytest.raises(ChildStartError, match="'bad'"):
        Supervisor.start([worker("a", log), worker("b", log), ChildSpec("bad", broken_start)])
    assert take(log, 4) == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]


def test_invalid_arguments() -> None:
    log: Log = queue.Queue()
    with pytest.raises(ValueError, match="already has a child 'a'"):
        Supervisor.start([worker("a", log), worker("a", log)])
    with pytest.raises(ValueError, match="max_restarts"):
        Supervisor.start(max_restarts=-1)
    with pytest.raises(ValueError, match="max_seconds"):
        Supervisor.start(max_seconds=0)
    with pytest.raises(ValueError, match="shutdown_timeout"):
        ChildSpec("a", Plain.start, shutdown_timeout=-1)
    assert log.empty()  # nothing was started


# -- no leaks --


def test_no_threads_are_left_behind() -> None:
    threads_before = set(threading.enumerate())
    count_before = threading.active_count()
    log: Log = queue.Queue()

    def start_inner() -> pykka.ActorRef[Supervisor]:
        return Supervisor.start([worker("i1", log), worker("i2", log)], max_restarts=0)

    top = Supervisor.start(
        [worker("a", log), ChildSpec("inner", start_inner, shutdown_timeout=10.0)],
        strategy=Strategy.ONE_FOR_ALL,
    )
    take(log, 3)
    ref_of(ref_of(top, "inner"), "i2").tell("crash")  # inner gives up, top restarts all
    assert take(log, 6) == [
        ("fail", "i2"),
        ("stop", "i1"),
        ("stop", "a"),
        ("start", "a"),
        ("start", "i1"),
        ("start", "i2"),
    ]
    top.proxy().start_child(worker("d", log)).get(timeout=TIMEOUT)
    assert top.stop(timeout=TIMEOUT)
    assert take(log, 5) == [
        ("start", "d"),
        ("stop", "d"),
        ("stop", "i2"),
        ("stop", "i1"),
        ("stop", "a"),
    ]
    assert pykka.ActorRegistry.get_all() == []

    deadline = time.monotonic() + TIMEOUT
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert [t for t in threading.enumerate() if t not in threads_before] == []
    assert threading.active_count() <= count_before  # earlier tests' threads may end meanwhile
