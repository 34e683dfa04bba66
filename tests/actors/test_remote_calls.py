"""Remote calls between our client and our server: results, errors, defaults and bounds."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.limits import Limits
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.server_config import ServerSessionConfig
from tests.actors.harness import TIMEOUT, EventLog, connect


class Accepting(EventReceiverActor):
    """Accepts connections; no handler for calls (the default answers them)."""

    def __init__(self, info: ConnectionInfo, log: EventLog) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = info.session  # type: ignore[assignment]
        self.log = log

    def on_connection_requested(self, event: server.ConnectionRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)


class Calculator(Accepting):
    """Answers ``add``, fails ``divide`` by zero, never answers ``slow``."""

    def on_call_requested(self, event: server.CallRequested) -> None:
        self.log.queue.put(event)
        if event.call_id is None:
            return
        if event.name == "add":
            self.session.tell(ServerSessionActor.answer_call, event.call_id, sum(event.arguments))
        elif event.name == "divide":
            numerator, denominator = event.arguments
            if denominator == 0:
                self.session.tell(
                    ServerSessionActor.fail_call, event.call_id, "Division by zero.", "Calc.Zero"
                )
            else:
                self.session.tell(
                    ServerSessionActor.answer_call, event.call_id, numerator / denominator
                )
        elif event.name != "slow":
            self.session.tell(ServerSessionActor.fail_call, event.call_id, "No such method.")


def serve(receiver: type[Accepting], log: EventLog, **config: Any) -> RtmpServer:
    return RtmpServer(
        "127.0.0.1",
        0,
        event_receiver_factory=lambda info: receiver.start(info, log),
        config=ServerSessionConfig(**config),
    ).start()


@pytest.fixture
def calculator() -> Iterator[tuple[RtmpServer, EventLog]]:
    log = EventLog()
    running = serve(Calculator, log, limits=Limits(max_pending_calls=2), call_timeout=30)
    yield running, log
    running.stop()


def call(rtmp_client: Any, name: str, *arguments: Any) -> int:
    future = rtmp_client.session.ask(ClientSessionActor.call, name, *arguments)
    transaction_id = future.get(timeout=TIMEOUT)
    assert isinstance(transaction_id, int)
    return transaction_id


def answer(log: EventLog, transaction_id: int) -> client.CallAnswered | client.CallFailed:
    return log.wait(
        client.CallAnswered | client.CallFailed,  # type: ignore[arg-type]
        lambda event: event.transaction_id == transaction_id,
    )


def test_a_call_gets_its_result(calculator: tuple[RtmpServer, EventLog]) -> None:
    running, server_log = calculator
    log = EventLog()
    rtmp_client = connect(running, log)
    tid = call(rtmp_client, "add", 2, 3, 4)
    assert answer(log, tid) == client.CallAnswered("add", tid, (9.0,))
    requested = server_log.wait(server.CallRequested)
    assert (requested.name, requested.arguments, requested.transaction_id) == (
        "add",
        (2.0, 3.0, 4.0),
        tid,
    )
    tid = call(rtmp_client, "divide", 1, 4)
    assert answer(log, tid) == client.CallAnswered("divide", tid, (0.25,))


def test_a_call_can_fail(calculator: tuple[RtmpServer, EventLog]) -> None:
    running, _ = calculator
    log = EventLog()
    rtmp_client = connect(running, log)
    failed = answer(log, call(rtmp_client, "divide", 1, 0))
    assert isinstance(failed, client.CallFailed)
    assert (failed.code, failed.description) == ("Calc.Zero", "Division by zero.")
    assert failed.information["level"] == "error"


def test_an_unhandled_call_gets_error_with_a_description() -> None:
    log = EventLog()
    running = serve(Accepting, log)
    try:
        client_log = EventLog()
        rtmp_client = connect(running, client_log)
        failed = answer(client_log, call(rtmp_client, "xyz", "arg"))
        assert isinstance(failed, client.CallFailed)
        assert failed.code == "NetConnection.Call.Failed"
        assert failed.description == "Method 'xyz' is not handled by this server."
    finally:
        running.stop()


def test_a_notification_is_delivered_and_not_answered(
    calculator: tuple[RtmpServer, EventLog], caplog: pytest.LogCaptureFixture
) -> None:
    running, server_log = calculator
    log = EventLog()
    rtmp_client = connect(running, log)
    caplog.set_level(logging.DEBUG, logger="rtmp_actors.session")
    rtmp_client.session.tell(ClientSessionActor.notify, "add", 1)
    notified = server_log.wait(server.CallRequested)
    assert (notified.call_id, notified.name, notified.transaction_id) == (None, "add", 0)
    # Commands are handled in order: an answer to the notification would arrive first.
    tid = call(rtmp_client, "add", 5)
    assert answer(log, tid) == client.CallAnswered("add", tid, (5.0,))
    assert [e for e in log.seen if isinstance(e, client.CallAnswered | client.CallFailed)] == [
        client.CallAnswered("add", tid, (5.0,))
    ]
    assert not [r for r in caplog.records if "unknown transaction 0" in r.getMessage()]


def test_pending_calls_are_bounded_and_a_full_table_refuses_at_once(
    calculator: tuple[RtmpServer, EventLog],
) -> None:
    running, server_log = calculator
    log = EventLog()
    rtmp_client = connect(running, log)
    call(rtmp_client, "slow")
    call(rtmp_client, "slow")
    refused = answer(log, call(rtmp_client, "add", 1))
    assert isinstance(refused, client.CallFailed)
    assert refused.description == "Too many calls waiting for an answer (at most 2)."
    assert [server_log.wait(server.CallRequested).name for _ in range(2)] == ["slow", "slow"]


def test_an_unanswered_call_times_out() -> None:
    log = EventLog()
    running = serve(Calculator, log, call_timeout=0.2)
    try:
        client_log = EventLog()
        rtmp_client = connect(running, client_log)
        failed = answer(client_log, call(rtmp_client, "slow"))
        assert isinstance(failed, client.CallFailed)
        assert failed.description == "Method 'slow' was not answered within 0.2 s."
        # The connection goes on.
        tid = call(rtmp_client, "add", 1)
        assert answer(client_log, tid) == client.CallAnswered("add", tid, (1.0,))
    finally:
        running.stop()


def test_pending_calls_fail_when_the_connection_ends(
    calculator: tuple[RtmpServer, EventLog],
) -> None:
    running, _ = calculator
    log = EventLog()
    rtmp_client = connect(running, log)
    tid = call(rtmp_client, "slow")
    running.stop()
    failed = answer(log, tid)
    assert isinstance(failed, client.CallFailed)
    assert failed.description == "disconnected"
    assert rtmp_client.wait_closed(TIMEOUT)


def _example(name: str) -> Any:
    path = Path(__file__).parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_event_logger_example_answers_calls_at_once() -> None:
    """A receiver that sees every event answers calls itself (else they wait out the timeout)."""
    logger = _example("event_logger_server").EventLogger
    running = RtmpServer(
        "127.0.0.1",
        0,
        event_receiver_factory=logger.start,
        config=ServerSessionConfig(call_timeout=60),
    ).start()
    try:
        client_log = EventLog()
        rtmp_client = connect(running, client_log)
        failed = answer(client_log, call(rtmp_client, "xyz"))
        assert isinstance(failed, client.CallFailed)
        assert failed.description == "Method 'xyz' is logged only."
    finally:
        running.stop()
