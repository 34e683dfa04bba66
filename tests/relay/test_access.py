"""Access control: the access file, the HTTP callback, the controller actor, and the relay."""

from __future__ import annotations

import queue
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay import access
from rtmp_actors.relay.access import (
    AccessAsker,
    AccessController,
    AccessFile,
    AccessKind,
    AccessList,
    AccessRequest,
    HttpCallback,
    callback_form,
)
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.transport.io_loop import IoLoop
from tests.actors.harness import TIMEOUT, EventLog
from tests.nginx_rtmp import free_port
from tests.relay.hook_server import serving_http

PUBLISH, PLAY = AccessKind.PUBLISH, AccessKind.PLAY


# --- The access file ----------------------------------------------------------------------------

RULES = """
# encoders
publish live/cam1
publish studio          # any app
PLAY live/*
both-ways
  \t
play other/only-play
"""


def test_rules_allow_what_they_name_and_nothing_else() -> None:
    rules = AccessList.parse(RULES)
    assert rules.allows(PUBLISH, "live", "cam1")
    assert not rules.allows(PLAY, "live2", "cam1")  # "play live/*" is for app live only
    assert not rules.allows(PUBLISH, "other", "cam1")  # app/key form: that app only
    assert rules.allows(PUBLISH, "live", "studio")
    assert rules.allows(PUBLISH, "anything", "studio")
    assert not rules.allows(PLAY, "other", "studio")
    assert rules.allows(PLAY, "live", "whatever")
    assert not rules.allows(PUBLISH, "live", "whatever")  # unknown key
    assert rules.allows(PUBLISH, "x", "both-ways")
    assert rules.allows(PLAY, "y", "both-ways")
    assert rules.allows(PLAY, "other", "only-play")
    assert not rules.allows(PUBLISH, "other", "only-play")
    assert not rules.allows(PUBLISH, "live", "#")  # comments are not rules
    assert not rules.allows(PUBLISH, "live", "Cam1")  # case-sensitive


def test_keys_are_compared_without_their_query_string() -> None:
    rules = AccessList.parse("publish live/cam1\n")
    assert rules.allows(PUBLISH, "live", "cam1?token=abc")
    assert not rules.allows(PUBLISH, "live", "cam2?cam1")


def test_app_key_is_split_at_the_last_slash() -> None:
    rules = AccessList.parse("publish live/sub/cam\n")
    assert rules.allows(PUBLISH, "live/sub", "cam")
    assert not rules.allows(PUBLISH, "live", "sub/cam")


def test_an_empty_file_allows_nothing() -> None:
    rules = AccessList.parse("# nobody\n\n")
    assert rules.rules == ()
    assert not rules.allows(PUBLISH, "live", "key")
    assert not rules.allows(PLAY, "live", "key")


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("publish", "expected"),
        ("play", "expected"),
        ("record live/key", "expected"),
        ("publish a b", "expected"),
        ("publish live/", "empty"),
        ("/key", "empty"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(line: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        AccessList.parse(f"# first\npublish ok\n{line}\n", "auth.txt")
    assert "auth.txt:3:" in str(raised.value)


def test_a_file_that_is_too_large_or_not_utf8_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"k\n" * (access.MAX_ACCESS_FILE_SIZE // 2 + 1))
    with pytest.raises(ValueError, match="larger"):
        AccessList.from_file(big)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match="UTF-8"):
        AccessList.from_file(latin)
    with pytest.raises(OSError, match="missing"):
        AccessList.from_file(tmp_path / "missing.txt")


def test_the_access_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "auth.txt"
    path.write_text("publish one\n")
    now = [0.0]
    rules = AccessFile(path, reload_interval=1.0, clock=lambda: now[0])
    assert rules.current().allows(PUBLISH, "live", "one")
    path.write_text("publish two\npublish three\n")
    assert rules.current().allows(PUBLISH, "live", "one")  # not looked at again yet
    now[0] = 1.5
    assert rules.current().allows(PUBLISH, "live", "two")
    assert not rules.current().allows(PUBLISH, "live", "one")
    # A broken edit keeps the previous rules.
    path.write_text("publish two\nthis is not a rule\n")
    now[0] = 3.0
    assert rules.current().allows(PUBLISH, "live", "three")
    path.unlink()
    now[0] = 4.5
    assert rules.current().allows(PUBLISH, "live", "three")


# --- The HTTP callback --------------------------------------------------------------------------


@dataclass
class CallbackServer:
    """A local auth callback: records each form it gets and answers ``status``.

    While ``hold`` is set, it answers only once ``release`` is set (or after ten seconds).
    """

    status: int = 200
    hold: bool = False
    forms: queue.Queue[dict[str, list[str]]] = field(default_factory=queue.Queue)
    raw_bodies: queue.Queue[bytes] = field(default_factory=queue.Queue)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def form(self) -> dict[str, list[str]]:
        return self.forms.get(timeout=TIMEOUT)


@pytest.fixture
def callback_server() -> Iterator[CallbackServer]:
    state = CallbackServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.raw_bodies.put(body)
            state.forms.put(urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True))
            state.arrived.set()
            if state.hold:
                state.release.wait(10)
            self.send_response(state.status)
            if 300 <= state.status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    with serving_http(Handler, state.release) as base:
        state.url = f"{base}/auth"
        yield state


REQUEST = AccessRequest(
    PUBLISH,
    "live",
    "a b&call=play/../x?token=1&name=evil",
    addr="127.0.0.1",
    tc_url="rtmp://127.0.0.1/live",
    flash_ver="FMLE/3.0",
    publish_type="live",
)


def test_the_callback_form_has_the_nginx_rtmp_fields() -> None:
    assert callback_form(REQUEST) == {
        "call": "publish",
        "app": "live",
        "name": "a b&call=play/../x",
        "args": "token=1&name=evil",
        "addr": "127.0.0.1",
        "tcurl": "rtmp://127.0.0.1/live",
        "flashver": "FMLE/3.0",
        "swfurl": "",
        "pageurl": "",
        "clientid": "",
        "type": "live",
    }
    play = AccessRequest(PLAY, "live", "key")
    assert "type" not in callback_form(play)
    assert callback_form(play)["call"] == "play"


def test_a_2xx_answer_allows_and_the_fields_arrive_url_encoded(
    callback_server: CallbackServer,
) -> None:
    callback_server.status = 204
    callback = HttpCallback(callback_server.url, timeout=TIMEOUT)
    try:
        assert callback.ask(REQUEST) == (True, "")
    finally:
        callback.shutdown()
    raw = callback_server.raw_bodies.get(timeout=TIMEOUT)
    assert b"/" not in raw  # every client-supplied character is escaped
    assert b" " not in raw
    form = callback_server.form()
    # Each field once: the client's '&call=play' and '&name=evil' did not add or override any.
    assert form == {name: [value] for name, value in callback_form(REQUEST).items()}


@pytest.mark.parametrize("status", [403, 404, 500, 302])
def test_any_other_answer_refuses(callback_server: CallbackServer, status: int) -> None:
    callback_server.status = status
    callback = HttpCallback(callback_server.url, timeout=TIMEOUT)
    try:
        assert callback.ask(REQUEST) == (False, access.CALLBACK_REFUSED)
    finally:
        callback.shutdown()
    assert callback_server.forms.qsize() == 1  # a redirect is not followed


def test_no_answer_in_time_refuses(callback_server: CallbackServer) -> None:
    callback_server.hold = True
    callback = HttpCallback(callback_server.url, timeout=0.3)
    try:
        assert callback.ask(REQUEST) == (False, access.CALLBACK_TIMEOUT)
        assert callback_server.arrived.is_set()
    finally:
        callback_server.release.set()
        callback.shutdown()


def test_an_unreachable_callback_refuses() -> None:
    callback = HttpCallback(f"http://127.0.0.1:{free_port()}/auth", timeout=TIMEOUT)
    try:
        assert callback.ask(REQUEST) == (False, access.CALLBACK_UNAVAILABLE)
    finally:
        callback.shutdown()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "http:///nohost", "x"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        HttpCallback(url)


def test_requests_beyond_max_pending_are_refused_at_once(callback_server: CallbackServer) -> None:
    callback_server.hold = True
    callback = HttpCallback(callback_server.url, timeout=TIMEOUT, max_workers=1, max_pending=1)
    answers: queue.Queue[tuple[bool, str, str | None]] = queue.Queue()
    try:
        assert callback.submit(REQUEST, lambda *answer: answers.put(answer))
        assert not callback.submit(REQUEST, lambda *answer: answers.put(answer))
        assert callback.pending == 1
        callback_server.release.set()
        assert answers.get(timeout=TIMEOUT) == (True, "", None)
        assert answers.empty()
    finally:
        callback.shutdown()


# --- The controller actor -----------------------------------------------------------------------


class Replies(pykka.ThreadingActor, AccessAsker):
    """Stands in for a relay receiver: collects ``access_decided`` answers."""

    def __init__(self, answers: queue.Queue[tuple[Any, bool, str]]) -> None:
        super().__init__()
        self.answers = answers

    def access_decided(self, token: Any, allowed: bool, reason: str) -> None:
        self.answers.put((token, allowed, reason))


Answers = tuple[ActorHandle[AccessAsker], queue.Queue[tuple[Any, bool, str]]]


@pytest.fixture
def replies() -> Answers:
    answers: queue.Queue[tuple[Any, bool, str]] = queue.Queue()
    return ActorHandle(Replies.start(answers)), answers


@pytest.fixture
def io_loop() -> Iterator[IoLoop]:
    loop = IoLoop(name="test-access-io")
    loop.start()
    yield loop
    loop.stop()


def test_the_controller_answers_by_token_from_the_rules(
    replies: Answers,
) -> None:
    reply_to, answers = replies
    controller: ActorHandle[AccessController] = ActorHandle(
        AccessController.start(AccessList.parse("publish live/ok\n"))
    )
    controller.tell(AccessController.check, AccessRequest(PUBLISH, "live", "ok"), reply_to, "first")
    controller.tell(
        AccessController.check, AccessRequest(PUBLISH, "live", "nope"), reply_to, "second"
    )
    assert answers.get(timeout=TIMEOUT) == ("first", True, "")
    assert answers.get(timeout=TIMEOUT) == ("second", False, access.UNKNOWN_KEY)


def test_the_controller_asks_the_callback_only_what_the_rules_allow(
    replies: Answers,
    callback_server: CallbackServer,
    io_loop: IoLoop,
) -> None:
    reply_to, answers = replies
    callback_server.status = 403
    controller: ActorHandle[AccessController] = ActorHandle(
        AccessController.start(
            AccessList.parse("publish live/ok\n"),
            HttpCallback(callback_server.url, timeout=TIMEOUT),
            io_loop.call_later,
        )
    )
    controller.tell(AccessController.check, AccessRequest(PUBLISH, "live", "nope"), reply_to, 1)
    assert answers.get(timeout=TIMEOUT) == (1, False, access.UNKNOWN_KEY)
    assert callback_server.forms.empty()
    controller.tell(AccessController.check, AccessRequest(PUBLISH, "live", "ok"), reply_to, 2)
    assert answers.get(timeout=TIMEOUT) == (2, False, access.CALLBACK_REFUSED)
    assert callback_server.form()["name"] == ["ok"]
    callback_server.status = 200
    controller.tell(AccessController.check, AccessRequest(PUBLISH, "live", "ok"), reply_to, 3)
    assert answers.get(timeout=TIMEOUT) == (3, True, "")


def test_the_controller_refuses_when_the_callback_is_late_and_stays_responsive(
    replies: Answers,
    callback_server: CallbackServer,
    io_loop: IoLoop,
) -> None:
    reply_to, answers = replies
    callback_server.hold = True
    # The socket timeout is long: the controller's own deadline must refuse first.
    callback = HttpCallback(callback_server.url, timeout=TIMEOUT)
    ref = AccessController.start(None, callback, io_loop.call_later, deadline=0.3)
    controller: ActorHandle[AccessController] = ActorHandle(ref)
    controller.tell(AccessController.check, AccessRequest(PLAY, "live", "slow"), reply_to, "late")
    assert answers.get(timeout=TIMEOUT) == ("late", False, access.CALLBACK_TIMEOUT)
    assert (
        controller.ask(AccessController.pending_checks).get(timeout=TIMEOUT) == 0
    )  # the actor is not blocked
    callback_server.release.set()
    assert callback_server.arrived.is_set()
    # The late 200 that follows is ignored: nothing more is answered for that token.
    with pytest.raises(queue.Empty):
        answers.get(timeout=0.5)


def test_without_rules_or_callback_everything_is_allowed(
    replies: Answers,
) -> None:
    reply_to, answers = replies
    controller: ActorHandle[AccessController] = ActorHandle(AccessController.start())
    controller.tell(AccessController.check, AccessRequest(PLAY, "any", "thing"), reply_to, 7)
    assert answers.get(timeout=TIMEOUT) == (7, True, "")


# --- Through the relay --------------------------------------------------------------------------


def start_relay(**options: Any) -> RelayServer:
    return RelayServer(RelayConfig(port=0, **options)).start()


@pytest.fixture
def file_relay(tmp_path: Path) -> Iterator[RelayServer]:
    rules = tmp_path / "auth.txt"
    rules.write_text("publish live/secret\nplay live/secret\nplay live/open\n")
    relay = start_relay(auth_file=str(rules))
    yield relay
    relay.stop()


def connected(relay: RelayServer, log: EventLog, app: str = "live") -> RtmpClient:
    host, port = relay.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/{app}/x", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publish(relay: RelayServer, key: str, app: str = "live") -> client.PublishResponseReceived:
    log = EventLog()
    connected(relay, log, app).session.tell(ClientSessionActor.request_publish, key)
    return log.wait(client.PublishResponseReceived)


def play(relay: RelayServer, key: str, app: str = "live") -> client.PlayResponseReceived:
    log = EventLog()
    connected(relay, log, app).session.tell(ClientSessionActor.request_playback, key)
    return log.wait(client.PlayResponseReceived)


def test_the_relay_lets_in_only_keys_of_the_access_file(file_relay: RelayServer) -> None:
    assert publish(file_relay, "secret").was_accepted
    refused = publish(file_relay, "guess")
    assert not refused.was_accepted
    assert refused.code == NetStreamCode.PUBLISH_BAD_NAME
    assert refused.response_text == "Publish denied: unknown stream key"
    assert not publish(file_relay, "secret", app="other").was_accepted
    assert not publish(file_relay, "open").was_accepted  # a play-only rule
    assert play(file_relay, "secret").was_accepted
    assert play(file_relay, "open").was_accepted
    denied = play(file_relay, "guess")
    assert not denied.was_accepted
    assert denied.code == NetStreamCode.PLAY_FAILED
    assert denied.response_text == "Play denied: unknown stream key"
    # Only the allowed streams reached the registry.
    assert sorted(s.key for s in file_relay.stream_stats()) == ["open", "secret"]


def test_a_refused_connection_may_try_again_with_a_good_key(file_relay: RelayServer) -> None:
    log = EventLog()
    rtmp_client = connected(file_relay, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, "wrong")
    assert not log.wait(client.PublishResponseReceived).was_accepted
    rtmp_client.session.tell(ClientSessionActor.request_publish, "secret")
    assert log.wait(client.PublishResponseReceived).was_accepted


def test_the_relay_asks_the_callback_with_the_client_details(
    callback_server: CallbackServer,
) -> None:
    relay = start_relay(auth_url=callback_server.url, auth_timeout=TIMEOUT)
    try:
        host, port = relay.address
        assert publish(relay, "cam?token=42").was_accepted
        form = callback_server.form()
        assert form == {
            "call": ["publish"],
            "app": ["live"],
            "name": ["cam"],
            "args": ["token=42"],
            "addr": ["127.0.0.1"],
            "tcurl": [f"rtmp://{host}:{port}/live"],
            "flashver": ["FMLE/3.0 (compatible; rtmp_actors)"],
            "swfurl": [""],
            "pageurl": [""],
            "clientid": form["clientid"],
            "type": ["live"],
        }
        assert form["clientid"][0]
        assert play(relay, "cam").was_accepted
        assert callback_server.form()["call"] == ["play"]
        callback_server.status = 403
        refused = publish(relay, "other")
        assert not refused.was_accepted
        assert refused.response_text == f"Publish denied: {access.CALLBACK_REFUSED}"
        assert not play(relay, "cam").was_accepted
    finally:
        relay.stop()


def test_the_relay_refuses_when_the_callback_does_not_answer_in_time(
    callback_server: CallbackServer,
) -> None:
    callback_server.hold = True
    relay = start_relay(auth_url=callback_server.url, auth_timeout=0.3)
    try:
        refused = publish(relay, "cam")
        assert not refused.was_accepted
        assert refused.response_text == f"Publish denied: {access.CALLBACK_TIMEOUT}"
        assert callback_server.arrived.is_set()
    finally:
        callback_server.release.set()
        relay.stop()


def test_the_relay_refuses_when_the_callback_is_unreachable() -> None:
    relay = start_relay(auth_url=f"http://127.0.0.1:{free_port()}/auth", auth_timeout=TIMEOUT)
    try:
        refused = publish(relay, "cam")
        assert not refused.was_accepted
        assert refused.response_text == f"Publish denied: {access.CALLBACK_UNAVAILABLE}"
        assert not play(relay, "cam").was_accepted
    finally:
        relay.stop()


def test_with_both_the_file_and_the_callback_must_allow(
    tmp_path: Path, callback_server: CallbackServer
) -> None:
    rules = tmp_path / "auth.txt"
    rules.write_text("publish cam\npublish blocked\n")
    relay = start_relay(auth_file=str(rules), auth_url=callback_server.url)
    try:
        assert not publish(relay, "stranger").was_accepted
        assert callback_server.forms.empty()  # the file said no: the callback was not asked
        assert publish(relay, "cam").was_accepted
        assert callback_server.form()["name"] == ["cam"]
        callback_server.status = 403
        assert not publish(relay, "blocked").was_accepted
        assert callback_server.form()["name"] == ["blocked"]
    finally:
        relay.stop()


def test_a_bad_access_file_stops_the_relay_from_starting(tmp_path: Path) -> None:
    rules = tmp_path / "auth.txt"
    rules.write_text("publish\n")
    with pytest.raises(ValueError, match=r"auth\.txt:1:"):
        RelayServer(RelayConfig(port=0, auth_file=str(rules)))
    with pytest.raises(OSError, match="nowhere"):
        RelayServer(RelayConfig(port=0, auth_file=str(tmp_path / "nowhere.txt")))
    assert not pykka.ActorRegistry.get_all()  # nothing was started
