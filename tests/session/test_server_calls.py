"""A client's remote calls on a ServerSession: the event, the user's answers, the bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.commands import FCPublish, GetStreamLength, ReleaseStream
from rtmp_actors.protocol.commands.parsing import _COMMANDS
from rtmp_actors.protocol.messages import (
    CommandMessage,
    DetailedMessage,
    decode_message,
    encode_message,
)
from rtmp_actors.session.server import ServerSession
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import CallRequested, ReleaseStreamRequested
from tests.session.test_server_session import (
    FFMPEG_PUBLISH_CONNECT,
    cmd,
    command_of,
    connected,
    drain,
    feed,
    info,
    message,
    only,
    shape,
    status,
)


def call(
    name: str, transaction_id: float, *arguments: object, stream_id: int = 0
) -> DetailedMessage:
    return message(CommandMessage(name, transaction_id, None, arguments), stream_id)  # type: ignore[arg-type]


def amf0_string(text: str) -> bytes:
    data = text.encode()
    return b"\x02" + len(data).to_bytes(2, "big") + data


def amf0_key(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


FIVE = b"\x00\x40\x14\x00\x00\x00\x00\x00\x00"  # AMF0 number 5.0
THREE = b"\x00\x40\x08\x00\x00\x00\x00\x00\x00"  # AMF0 number 3.0
NULL = b"\x05"


def error_payload(transaction: bytes, code: str, description: str) -> bytes:
    return (
        amf0_string("_error")
        + transaction
        + NULL
        + b"\x03"
        + amf0_key("level")
        + amf0_string("error")
        + amf0_key("code")
        + amf0_string(code)
        + amf0_key("description")
        + amf0_string(description)
        + b"\x00\x00\x09"
    )


# --- Calls and answers -------------------------------------------------------------------------


def test_a_call_is_raised_and_answered_with_result() -> None:
    session = connected()
    output = feed(session, message(CommandMessage("add", 5, {"x": 1.0}, (1.0, 2.0))))
    assert output.messages == []
    event = only(output, CallRequested)
    assert event == CallRequested(1, "add", (1.0, 2.0), 5, 0, {"x": 1.0})
    assert not event.is_notification
    assert session.pending_call_ids == {1}

    session.answer_call(event.call_id, "pong", 3)
    (reply,) = drain(session).messages
    assert reply.stream_id == 0
    assert command_of(reply).encode_payload() == (
        amf0_string("_result") + FIVE + NULL + amf0_string("pong") + THREE
    )
    assert session.pending_call_ids == frozenset()
    with pytest.raises(LocalProtocolError, match="already answered"):
        session.answer_call(event.call_id, "again")
    with pytest.raises(LocalProtocolError, match="no call 9"):
        session.fail_call(9, "never given out")
    assert drain(session).messages == []


def test_a_call_fails_with_error_and_information() -> None:
    session = connected()
    first = only(feed(session, call("divide", 5, 1.0, 0.0)), CallRequested)
    session.fail_call(first.call_id or 0, "Division by zero.")
    (reply,) = drain(session).messages
    assert command_of(reply).encode_payload() == error_payload(
        FIVE, "NetConnection.Call.Failed", "Division by zero."
    )

    second = only(feed(session, call("divide", 6)), CallRequested)
    session.fail_call(second.call_id or 0, "Not allowed.", "App.Call.Denied")
    (reply,) = drain(session).messages
    assert status(reply) == (0, "_error", "error", "App.Call.Denied")
    assert command_of(reply).transaction_id == 6


def test_a_call_on_a_message_stream_is_answered_on_it() -> None:
    session = connected()
    event = only(feed(session, call("cue", 2, "x", stream_id=1)), CallRequested)
    assert event.stream_id == 1
    session.answer_call(event.call_id or 0)
    (reply,) = drain(session).messages
    assert shape([reply]) == [(1, "_result", 2, None)]
    assert command_of(reply).arguments == ()


def test_a_notification_is_raised_and_never_answered() -> None:
    session = connected()
    output = feed(session, call("onCuePoint", 0, "chapter", stream_id=1))
    assert output.messages == []
    event = only(output, CallRequested)
    assert event == CallRequested(None, "onCuePoint", ("chapter",), 0, 1)
    assert event.is_notification
    assert session.pending_call_ids == frozenset()


def test_answers_for_an_amf3_client_are_amf3() -> None:
    session = connected(FFMPEG_PUBLISH_CONNECT.__class__(app="live", object_encoding=3))
    assert session.amf3
    event = only(feed(session, call("ping", 3)), CallRequested)
    session.answer_call(event.call_id or 0, {"ok": True})
    (reply,) = drain(session).messages
    assert command_of(reply).amf3
    assert command_of(reply).arguments == ({"ok": True},)


def test_an_unencodable_answer_raises_and_the_call_still_waits() -> None:
    session = connected()
    event = only(feed(session, call("ping", 3)), CallRequested)
    with pytest.raises(LocalProtocolError):
        session.answer_call(event.call_id or 0, object())  # type: ignore[arg-type]
    assert session.pending_call_ids == {event.call_id}
    assert drain(session).messages == []
    session.answer_call(event.call_id or 0, "fine")
    assert shape(drain(session).messages) == [(0, "_result", 3, None)]


def test_standard_calls_are_still_answered_by_the_session() -> None:
    session = connected()
    output = feed(
        session,
        cmd(ReleaseStream("key", 2)),
        cmd(FCPublish("key", 3)),
        cmd(GetStreamLength("key", 4)),
    )
    assert output.events == [ReleaseStreamRequested("live", "key")]
    assert shape(output.messages) == [
        (0, "_result", 2, None),
        (0, "onFCPublish", 0, "NetStream.Publish.Start"),
        (0, "_result", 4, None),
    ]
    assert session.pending_call_ids == frozenset()


# --- Nobody answers ------------------------------------------------------------------------------


def test_unhandled_calls_get_error_at_once_and_notifications_are_dropped() -> None:
    session = connected()
    session.handles_calls = False
    output = feed(session, call("xyz", 5, "arg"), call("onSomething", 0))
    assert output.events == []
    (reply,) = output.messages
    assert command_of(reply).encode_payload() == error_payload(
        FIVE, "NetConnection.Call.Failed", "Method 'xyz' is not handled by this server."
    )
    assert session.pending_call_ids == frozenset()


def test_pending_calls_are_bounded() -> None:
    session = connected(config=ServerSessionConfig(limits=Limits(max_pending_calls=2)))
    output = feed(session, call("a", 2), call("b", 3), call("c", 4))
    assert [event.name for event in output.events if isinstance(event, CallRequested)] == [
        "a",
        "b",
    ]
    (refusal,) = output.messages
    assert status(refusal) == (0, "_error", "error", "NetConnection.Call.Failed")
    assert command_of(refusal).transaction_id == 4
    assert info(refusal)["description"] == ("Too many calls waiting for an answer (at most 2).")
    session.answer_call(1)
    drain(session)
    assert only(feed(session, call("d", 5)), CallRequested).call_id == 3


def test_a_call_not_answered_in_time_gets_error_and_late_answers_are_ignored() -> None:
    config = ServerSessionConfig(call_timeout=5, ping_interval=60)
    session = connected(config=config, now=100.0)
    assert session.next_deadline() == 160.0
    first = only(feed(session, call("slow", 2), now=101.0), CallRequested)
    second = only(feed(session, call("slower", 3), now=102.0), CallRequested)
    assert session.next_deadline() == 106.0

    session.handle_timer(105.9)
    assert drain(session).messages == []
    session.handle_timer(106.0)
    (timeout,) = drain(session).messages
    assert status(timeout) == (0, "_error", "error", "NetConnection.Call.Failed")
    assert command_of(timeout).transaction_id == 2
    assert info(timeout)["description"] == "Method 'slow' was not answered within 5 s."
    assert session.pending_call_ids == {second.call_id}
    assert session.next_deadline() == 107.0

    session.answer_call(first.call_id or 0, "too late")  # ignored: the caller could not know
    assert drain(session).messages == []
    with pytest.raises(LocalProtocolError, match="already answered"):
        session.answer_call(first.call_id or 0, "twice")
    session.answer_call(second.call_id or 0)
    assert shape(drain(session).messages) == [(0, "_result", 3, None)]
    assert session.next_deadline() == 160.0


def test_call_timeout_zero_waits_for_ever() -> None:
    session = connected(config=ServerSessionConfig(call_timeout=0, ping_interval=0))
    event = only(feed(session, call("slow", 2)), CallRequested)
    assert session.next_deadline() is None
    session.handle_timer(1e9)
    assert drain(session).messages == []
    assert session.pending_call_ids == {event.call_id}


def test_answers_after_the_session_closed_are_ignored() -> None:
    session = connected()
    event = only(feed(session, call("slow", 2)), CallRequested)
    session.close("bye")
    drain(session)
    session.answer_call(event.call_id or 0, "late")
    session.fail_call(event.call_id or 0, "late")
    assert drain(session).messages == []
    assert session.pending_call_ids == frozenset()


def test_config_rejects_a_negative_call_timeout() -> None:
    with pytest.raises(ValueError, match="call_timeout"):
        ServerSessionConfig(call_timeout=-1)
    with pytest.raises(ValueError, match="max_pending_calls"):
        Limits(max_pending_calls=0)


# --- Round trips ---------------------------------------------------------------------------------

plain_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=3),
    ),
    max_leaves=8,
)
call_names = st.text(min_size=1, max_size=40).filter(lambda name: name not in _COMMANDS)


@given(call_names, st.integers(1, 2**40), st.lists(plain_values, max_size=4))
def test_any_call_round_trips_to_the_event_and_its_answer_back(
    name: str, transaction_id: int, arguments: list[object]
) -> None:
    session = connected()
    sent = DetailedMessage(0, 0, CommandMessage(name, transaction_id, None, tuple(arguments)))  # type: ignore[arg-type]
    received = decode_message(encode_message(sent))
    event = only(feed(session, received), CallRequested)
    assert (event.name, event.transaction_id, event.stream_id) == (name, transaction_id, 0)
    assert event.arguments == command_of(received).arguments

    session.answer_call(event.call_id or 0, *event.arguments)
    (reply,) = drain(session).messages
    answer = command_of(decode_message(encode_message(reply)))
    assert (answer.name, answer.transaction_id) == ("_result", transaction_id)
    assert answer.arguments == event.arguments


def test_a_new_session_handles_calls_by_default() -> None:
    assert ServerSession().handles_calls
