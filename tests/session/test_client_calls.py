"""ClientSession remote calls: what goes out, how answers come back, the bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.commands import ErrorResult, Result
from rtmp_actors.protocol.messages import CommandMessage
from rtmp_actors.session.client import ClientSession
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.client_events import CallAnswered, CallFailed, Disconnected
from tests.session.test_client_session import (
    commands,
    connected_session,
    from_server,
    over_the_wire,
)

DISCONNECTED_INFO = {
    "level": "error",
    "code": "NetConnection.Call.Failed",
    "description": "disconnected",
}


def test_call_sends_the_command_on_stream_0_with_a_fresh_transaction_id() -> None:
    session = connected_session()
    first = session.call("add", 1, 2)
    second = session.call("echo", {"a": "b"}, command_object={"x": 1})
    output = session.take_output()
    assert [(sid, c.name, c.transaction_id) for sid, c in commands(output)] == [
        (0, "add", first),
        (0, "echo", second),
    ]
    assert second == first + 1 > 1  # connect had transaction 1
    (message,) = [over_the_wire(m) for m in output.messages[:1]]
    assert message.content == CommandMessage("add", first, None, (1.0, 2.0))
    assert commands(output)[1][1].command_object == {"x": 1}


def test_result_and_error_answers_become_events() -> None:
    session = connected_session()
    added = session.call("add", 1, 2)
    failed = session.call("divide", 1, 0)
    session.take_output()
    session.handle_message(from_server(Result(failed + 0.0, None, ())), now=1.0)
    error = ErrorResult.with_status(added, "App.Call.Denied", "No adding.")
    session.handle_message(from_server(Result(failed, None, (3.0,))), now=1.0)
    events = session.take_output().events
    assert events == [CallAnswered("divide", failed, ())]  # the second answer is unknown
    session.handle_message(from_server(error), now=1.0)
    (event,) = session.take_output().events
    assert isinstance(event, CallFailed)
    assert (event.name, event.transaction_id) == ("add", added)
    assert (event.code, event.description) == ("App.Call.Denied", "No adding.")
    assert event.information["level"] == "error"


def test_answer_values_and_command_object_are_reported() -> None:
    session = connected_session()
    tid = session.call("info")
    session.take_output()
    session.handle_message(from_server(Result(tid, {"v": 1.0}, ("a", 2.0))), now=1.0)
    (event,) = session.take_output().events
    assert event == CallAnswered("info", tid, ("a", 2.0), {"v": 1.0})
    assert event.values == ("a", 2.0)
    assert event.command_object == {"v": 1.0}


def test_pending_calls_fail_when_the_session_closes_or_disconnects() -> None:
    session = connected_session()
    tid = session.call("slow")
    session.take_output()
    session.notify_disconnected("reset")
    events = session.take_output().events
    assert events == [CallFailed("slow", tid, DISCONNECTED_INFO), Disconnected("reset")]
    assert session.call("late") > tid  # ignored after Disconnected: no event
    assert session.take_output().events == []

    closing = connected_session()
    waiting = closing.call("slow")
    closing.close()
    (failed,) = closing.take_output().events
    assert failed == CallFailed(
        "slow", waiting, {**DISCONNECTED_INFO, "description": "session closed"}
    )
    after = closing.call("after")
    output = closing.take_output()
    assert output.messages == []
    assert [(e.transaction_id, e.description) for e in output.events] == [(after, "session closed")]


def test_calls_the_session_cannot_honour_raise_and_send_nothing() -> None:
    idle = ClientSession()
    with pytest.raises(LocalProtocolError, match="before the server accepted connect"):
        idle.call("add")
    session = connected_session(ClientSessionConfig(limits=Limits(max_pending_calls=2)))
    for name in ("", "connect", "publish", "createStream", "_result"):
        with pytest.raises(LocalProtocolError, match="not a method name"):
            session.call(name)
    with pytest.raises(LocalProtocolError):
        session.call("bad", object())
    session.call("a")
    session.call("b")
    with pytest.raises(LocalProtocolError, match="2 calls already wait"):
        session.call("c")
    assert [c.name for _, c in commands(session.take_output())] == ["a", "b"]


def test_standard_names_may_be_called() -> None:
    session = connected_session()
    tid = session.call("getStreamLength", "key")
    session.take_output()
    session.handle_message(from_server(Result(tid, None, (0.0,))), now=1.0)
    assert session.take_output().events == [CallAnswered("getStreamLength", tid, (0.0,))]


def test_notify_sends_transaction_id_0_and_expects_nothing() -> None:
    session = connected_session()
    session.notify("onCuePoint", "chapter 2")
    output = session.take_output()
    ((stream_id, command),) = commands(output)
    assert (stream_id, command.name, command.transaction_id) == (0, "onCuePoint", 0)
    assert command.arguments == ("chapter 2",)
    with pytest.raises(LocalProtocolError):
        session.notify("play")


@given(st.text(min_size=1, max_size=30), st.lists(st.text(max_size=10), max_size=3))
def test_any_answer_reaches_the_matching_call(name: str, values: list[str]) -> None:
    session = connected_session()
    if name in ("connect", "publish", "play", "createStream", "deleteStream", "closeStream"):
        return
    try:
        tid = session.call(name, *values)
    except LocalProtocolError:
        return  # one of the session's own commands
    session.take_output()
    session.handle_message(over_the_wire(from_server(Result(tid, None, tuple(values)))), 1.0)
    assert session.take_output().events == [CallAnswered(name, tid, tuple(values))]
