"""``serve_forever``: start, wait for SIGINT/SIGTERM (or the stop event), stop, put things back.

No test kills pytest: the signals are delivered by calling the handler ``serve_forever``
installed, or (once) sent for real after checking that its handler is the one in place.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pykka
import pytest

from rtmp_actors.running import STOP_SIGNALS, serve_forever

TIMEOUT = 5.0


class FakeServer:
    """Records its calls; can fail to start or to stop, or run a hook while it starts."""

    def __init__(
        self,
        *,
        start_error: Exception | None = None,
        stop_error: Exception | None = None,
        while_starting: Callable[[], object] | None = None,
    ) -> None:
        self.calls: list[Any] = []
        self.start_error = start_error
        self.stop_error = stop_error
        self.while_starting = while_starting

    def start(self) -> FakeServer:
        self.calls.append("start")
        if self.while_starting is not None:
            self.while_starting()
        if self.start_error is not None:
            raise self.start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.calls.append(("stop", timeout))
        if self.stop_error is not None:
            raise self.stop_error


def _previous_handler(_signum: int, _frame: FrameType | None) -> None:
    """What the test's process had before ``serve_forever`` (never called)."""
    pytest.fail("the previous handler was called while serve_forever ran")


@pytest.fixture(autouse=True)
def previous_handlers() -> Iterator[None]:
    """Put a known handler in place for each stop signal, and pytest's own back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _previous_handler)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def deliver(signum: signal.Signals) -> None:
    """Call the handler serve_forever installed for ``signum``, as the interpreter would."""
    handler = signal.getsignal(signum)
    assert callable(handler)
    assert handler is not _previous_handler
    handler(signum, None)


def assert_handlers_restored() -> None:
    for signum in STOP_SIGNALS:
        assert signal.getsignal(signum) is _previous_handler


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_stop_signal_stops_the_server_and_restores_the_handlers(signum: signal.Signals) -> None:
    server = FakeServer()
    seen: list[object] = []

    def ready(started: FakeServer) -> None:
        seen.append(started)
        deliver(signum)

    serve_forever(server, stop_timeout=2.5, ready=ready, stopping=lambda: seen.append("stopping"))
    assert server.calls == ["start", ("stop", 2.5)]
    assert seen == [server, "stopping"]
    assert_handlers_restored()


def test_a_real_sigterm_stops_the_server() -> None:
    server = FakeServer()

    def ready(_server: FakeServer) -> None:
        handler = signal.getsignal(signal.SIGTERM)
        # Only send it once it is certain to reach serve_forever's handler, not pytest's.
        assert callable(handler)
        assert handler is not _previous_handler
        os.kill(os.getpid(), signal.SIGTERM)

    serve_forever(server, ready=ready)
    assert server.calls == ["start", ("stop", 10.0)]
    assert_handlers_restored()


def test_a_signal_while_starting_stops_the_server_once_started() -> None:
    server = FakeServer(while_starting=lambda: deliver(signal.SIGINT))
    ready: list[FakeServer] = []
    serve_forever(server, ready=ready.append)
    assert ready == [server]
    assert server.calls == ["start", ("stop", 10.0)]


def test_the_stop_event_stops_a_server_run_off_the_main_thread() -> None:
    server = FakeServer()
    started, stop = threading.Event(), threading.Event()
    errors: queue.Queue[BaseException] = queue.Queue()

    def run() -> None:
        try:
            serve_forever(server, ready=lambda _s: started.set(), stop=stop)
        except BaseException as error:
            errors.put(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(TIMEOUT)
    assert server.calls == ["start"]  # serving, until told
    assert_handlers_restored()  # nothing was installed: signals reach only the main thread
    stop.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert errors.empty()
    assert server.calls == ["start", ("stop", 10.0)]


def test_off_the_main_thread_a_stop_event_is_required() -> None:
    errors: queue.Queue[BaseException] = queue.Queue()
    server = FakeServer()
    thread = threading.Thread(target=lambda: _catch(errors, lambda: serve_forever(server)))
    thread.start()
    thread.join(TIMEOUT)
    assert isinstance(errors.get(timeout=TIMEOUT), ValueError)
    assert server.calls == []


def _catch(errors: queue.Queue[BaseException], call: Callable[[], object]) -> None:
    try:
        call()
    except BaseException as error:
        errors.put(error)


def test_a_server_that_fails_to_start_is_not_stopped_and_the_handlers_come_back() -> None:
    server = FakeServer(start_error=OSError("address in use"))
    called: list[str] = []
    with pytest.raises(OSError, match="address in use"):
        serve_forever(
            server, ready=lambda _s: called.append("ready"), stopping=lambda: called.append("x")
        )
    assert server.calls == ["start"]
    assert called == []
    assert_handlers_restored()


def test_a_failing_stop_is_raised_after_the_handlers_come_back() -> None:
    server = FakeServer(stop_error=RuntimeError("stuck"))
    with pytest.raises(RuntimeError, match="stuck"):
        serve_forever(server, ready=lambda _s: deliver(signal.SIGTERM))
    assert server.calls == ["start", ("stop", 10.0)]
    assert_handlers_restored()


def test_a_failing_ready_still_stops_the_server() -> None:
    server = FakeServer()

    def ready(_server: FakeServer) -> None:
        msg = "cannot print"
        raise OSError(msg)

    with pytest.raises(OSError, match="cannot print"):
        serve_forever(server, ready=ready)
    assert server.calls == ["start", ("stop", 10.0)]
    assert_handlers_restored()


class Idle(pykka.ThreadingActor):
    pass


@pytest.mark.parametrize("stop_all_actors", [True, False])
def test_actors_left_running_are_stopped_unless_asked_not_to(stop_all_actors: bool) -> None:
    left: list[pykka.ActorRef[Idle]] = []

    def ready(_server: FakeServer) -> None:
        left.append(Idle.start())
        deliver(signal.SIGTERM)

    serve_forever(FakeServer(), ready=ready, stop_all_actors=stop_all_actors)
    [actor] = left
    assert actor.is_alive() is not stop_all_actors


class EndingServer(FakeServer):
    """A server that can end by itself (as a supervision tree that gives up does)."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        return self.ended.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.ended.set()


def test_a_server_that_ends_by_itself_ends_the_wait_and_says_so() -> None:
    server = EndingServer()
    stopping: list[str] = []
    assert not serve_forever(
        server, ready=lambda s: s.ended.set(), stopping=lambda: stopping.append("stopping")
    )
    assert server.calls == ["start", ("stop", 10.0)]  # stopped all the same, to clean up
    assert stopping == ["stopping"]
    assert_handlers_restored()


def test_a_signal_stopping_an_endable_server_is_not_taken_for_its_end() -> None:
    server = EndingServer()
    assert serve_forever(server, ready=lambda _s: deliver(signal.SIGTERM))
    assert server.calls == ["start", ("stop", 10.0)]
    assert not [t for t in threading.enumerate() if t.name == "serve-forever-watch"]
