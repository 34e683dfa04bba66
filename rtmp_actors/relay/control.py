"""The control API on the relay's HTTP port: list clients, drop them, record, redirect.

Theory of operation:

* Requests arrive on the HTTP port's request threads (:mod:`rtmp_actors.relay.http_stats`),
  outside the actor system: :class:`ControlApi` reads and checks them there, asks the actors
  what it needs to know (always with a timeout), and ``tell`` s them what to do.
* Every call carries ``Authorization: Bearer TOKEN``, compared in constant time; a missing or
  wrong token is a 401. With no token configured the API does not exist (404), so a relay
  is never controllable by accident. Calls that change anything are POSTs with a JSON
  object body (at most ``max_body`` bytes), so a link or an ``<img>`` cannot trigger them.
* ``GET /control/clients``: every RTMP connection and HTTP-FLV client (id, address, app,
  roles, stream keys without their query strings, since when, bytes in and out).
* ``POST /control/drop``: ``{"client": ID}`` closes that connection politely (an RTMP
  session ends its streams, an HTTP-FLV response its body; the peer sees the connection
  close); ``{"app", "key"}`` closes the stream's publisher, whose players are told and keep
  waiting.
* ``POST /control/record/start`` and ``/stop`` with ``{"app", "key"}``: record a live stream
  from its last keyframe (the GOP cache's), and finish that file (see
  :meth:`~rtmp_actors.relay.recording.StreamRecorder.start_recording`).
* ``POST /control/redirect`` with ``{"app", "key", "url"}``: an Enhanced RTMP
  ``NetConnection.Connect.ReconnectRequest`` (``tcUrl`` = ``url``) to the publisher. A
  client that does not leave within ``redirect_grace`` seconds (FFmpeg ignores the request)
  is dropped, so the redirect takes effect either way.
* Errors are JSON too (``{"error": "..."}``): 400 for a bad body, 404 for an unknown client
  or stream, 409 for what the relay cannot do (recording not configured, a publisher that
  is not an RTMP client here), 413 for a body over the limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_info import ClientInfo, SessionSummary
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.limits import DEFAULT_LIMITS
from rtmp_actors.protocol.commands.net_connection import CapsEx
from rtmp_actors.relay.config import ControlConfig
from rtmp_actors.relay.recording import StreamRecorder
from rtmp_actors.relay.registry import StreamRegistry

if TYPE_CHECKING:
    from email.message import Message
    from io import BufferedIOBase

    from rtmp_actors.relay.http_flv import HttpFlvService
    from rtmp_actors.relay.server import RelayServer

__all__ = ["CONTROL_PREFIX", "ControlApi", "ControlReply", "client_document"]

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/control/"
_MAX_URL_LENGTH = 2048


class ControlRequest(Protocol):
    """The parts of an HTTP request handler the API reads."""

    command: str
    headers: Message
    rfile: BufferedIOBase
    client_address: tuple[str, int]


@dataclass(frozen=True, slots=True)
class ControlReply:
    """What to answer: a status and a JSON document (and extra headers)."""

    status: int
    document: Mapping[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def body(self) -> bytes:
        """The document as JSON."""
        return json.dumps(self.document, indent=2).encode() + b"\n"


class _CallError(Exception):
    """A call answered with an error status."""

    def __init__(self, status: int, error: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(error)
        self.reply = ControlReply(status, {"error": error}, headers)


def client_document(client: ClientInfo, now: float) -> dict[str, Any]:
    """One client as ``GET /control/clients`` lists it."""
    session = client.session
    address = client.address
    caps_ex = None if session is None else session.caps_ex
    return {
        "id": client.connection_id,
        "address": None if address is None else address[0],
        "port": None if address is None else address[1],
        "app": None if session is None else session.app,
        "tc_url": None if session is None else session.tc_url,
        "flash_ver": None if session is None else session.flash_ver,
        "roles": list(client.roles),
        "streams": []
        if session is None
        else [
            {"stream_id": s.stream_id, "role": s.role, "key": s.key, "active": s.active}
            for s in session.streams
        ],
        "since": round(client.since, 3),
        "seconds": round(max(0.0, now - client.since), 3),
        "bytes_in": client.bytes_in,
        "bytes_out": client.bytes_out,
        "reconnect_capable": bool(caps_ex is not None and caps_ex & CapsEx.RECONNECT),
    }


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode(errors="replace")).digest()


def _text(body: Mapping[str, Any], name: str, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _CallError(400, f"{name!r} must be a non-empty string")
    if len(value.encode()) > max_length:
        raise _CallError(400, f"{name!r} is longer than {max_length} bytes")
    if any(ord(char) < 0x20 or char == "\x7f" for char in value):
        raise _CallError(400, f"{name!r} holds a control character")
    return value


class ControlApi:
    """Answers the ``/control/`` paths of a relay's HTTP port.

    Args:
        relay: The started relay.
        config: The token and limits.
        timeout: Seconds each call may wait for each actor it asks.
        http_flv: The HTTP-FLV clients, to list and drop them too.
    """

    def __init__(
        self,
        relay: RelayServer,
        config: ControlConfig,
        timeout: float = 2.0,
        http_flv: HttpFlvService | None = None,
    ) -> None:
        self._relay = relay
        self._http_flv = http_flv
        self._config = config
        self._token = None if config.token is None else _digest(config.token)
        self._timeout = timeout
        self._max_name = DEFAULT_LIMITS.max_name_length
        self._posts: dict[str, Callable[[Mapping[str, Any], str], ControlReply]] = {
            "drop": self._drop,
            "record/start": self._record_start,
            "record/stop": self._record_stop,
            "redirect": self._redirect,
        }

    @property
    def enabled(self) -> bool:
        """Whether a token is configured (without one, every control path is a 404)."""
        return self._token is not None

    def answer(self, request: ControlRequest, path: str) -> ControlReply:
        """Answer a request for ``path`` (which starts with ``/control/``)."""
        try:
            return self._answer(request, path)
        except _CallError as refused:
            return refused.reply

    def _answer(self, request: ControlRequest, path: str) -> ControlReply:
        if self._token is None:
            raise _CallError(404, "not found")
        self._authorize(request, path)
        name = path[len(CONTROL_PREFIX) :]
        peer = request.client_address[0]
        if name == "clients":
            self._require(request, "GET")
            return self._clients()
        post = self._posts.get(name)
        if post is None:
            raise _CallError(404, f"no control call {name[:64]!r}")
        self._require(request, "POST")
        return post(self._body(request), peer)

    def _authorize(self, request: ControlRequest, path: str) -> None:
        assert self._token is not None
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        # Digests compared in constant time: neither how much of a wrong token matched nor
        # the token's length shows in the timing.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            _digest(token.strip()), self._token
        ):
            logger.warning(
                "control: refusing %s %s from %s: %s",
                request.command,
                path[:100],
                request.client_address[0],
                "wrong token" if given else "no token",
            )
            raise _CallError(
                401, "a valid bearer token is required", (("WWW-Authenticate", "Bearer"),)
            )

    @staticmethod
    def _require(request: ControlRequest, method: str) -> None:
        if request.command != method:
            raise _CallError(405, f"use {method}", (("Allow", method),))

    def _body(self, request: ControlRequest) -> Mapping[str, Any]:
        length_header = request.headers.get("Content-Length")
        if length_header is None:
            raise _CallError(411, "a JSON body with a Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            raise _CallError(400, "bad Content-Length") from None
        if length < 0:
            raise _CallError(400, "bad Content-Length")
        if length > self._config.max_body:
            raise _CallError(413, f"the body is larger than {self._config.max_body} bytes")
        raw = request.rfile.read(length)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _CallError(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise _CallError(400, "the body must be a JSON object")
        return body

    # --- Calls -----------------------------------------------------------------------------------

    def _clients(self) -> ControlReply:
        clients = self._relay.clients(self._timeout)
        if self._http_flv is not None:
            clients += self._http_flv.clients(self._timeout)
        now = time.time()
        documents = [client_document(c, now) for c in sorted(clients, key=lambda c: c.since)]
        return ControlReply(200, {"clients": documents})

    def _stream(self, body: Mapping[str, Any]) -> tuple[str, str]:
        return _text(body, "app", self._max_name), _text(body, "key", self._max_name)

    def _publisher(self, app: str, key: str) -> str:
        stats = self._relay.stream_stats_of(app, key, self._timeout)
        if stats is None or stats.publisher is None:
            raise _CallError(404, f"nobody publishes {app}/{key}")
        return stats.publisher

    def _drop(self, body: Mapping[str, Any], peer: str) -> ControlReply:
        if "client" in body:
            client = _text(body, "client", 256)
            reason = "dropped through the control API"
            session = self._relay.session_of(client)
            if session is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    session.tell(ServerSessionActor.close, reason)
            elif self._http_flv is None or not self._http_flv.drop(client, reason):
                raise _CallError(404, f"no client {client!r}")
            logger.info("control (%s): dropping client %s", peer, client)
            return ControlReply(200, {"dropped": client})
        app, key = self._stream(body)
        publisher = self._publisher(app, key)
        logger.info("control (%s): dropping %s, the publisher of %s/%s", peer, publisher, app, key)
        try:
            self._relay.registry.tell(
                StreamRegistry.close_publisher, app, key, "dropped through the control API"
            )
        except pykka.ActorDeadError:
            raise _CallError(503, "the stream registry is not running") from None
        return ControlReply(200, {"dropped": publisher, "app": app, "key": key})

    def _recorder(self) -> ActorHandle[StreamRecorder]:
        recorder = self._relay.recorder
        if recorder is None:
            raise _CallError(
                409, "recording is not configured (record_dir, or [control] record_dir)"
            )
        return recorder

    def _record_start(self, body: Mapping[str, Any], peer: str) -> ControlReply:
        app, key = self._stream(body)
        recorder = self._recorder()
        self._publisher(app, key)
        try:
            path, started = recorder.ask(StreamRecorder.start_recording, app, key).get(
                timeout=self._timeout
            )
        except (OSError, ValueError) as error:
            raise _CallError(409, f"cannot record {app}/{key}: {error}") from None
        except (pykka.ActorDeadError, pykka.Timeout):
            raise _CallError(503, "the recorder did not answer in time") from None
        if started:
            logger.info("control (%s): recording %s/%s to %s", peer, app, key, path)
            # The file starts from the stream's own description: its cached GOP, then live.
            with contextlib.suppress(pykka.ActorDeadError):
                self._relay.registry.tell(StreamRegistry.describe_stream, app, key, recorder)
        return ControlReply(200, {"app": app, "key": key, "file": str(path), "started": started})

    def _record_stop(self, body: Mapping[str, Any], peer: str) -> ControlReply:
        app, key = self._stream(body)
        recorder = self._recorder()
        try:
            path = recorder.ask(StreamRecorder.stop_recording, app, key).get(timeout=self._timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            raise _CallError(503, "the recorder did not answer in time") from None
        if path is None:
            raise _CallError(404, f"{app}/{key} is not being recorded")
        logger.info("control (%s): stopped recording %s/%s: %s", peer, app, key, path)
        return ControlReply(200, {"app": app, "key": key, "file": str(path)})

    def _redirect(self, body: Mapping[str, Any], peer: str) -> ControlReply:
        app, key = self._stream(body)
        url = _text(body, "url", _MAX_URL_LENGTH)
        if not url.lower().startswith(("rtmp://", "rtmps://")):
            raise _CallError(400, "'url' must be an rtmp:// or rtmps:// URL")
        description = body.get("description", f"the stream moves to {url}")
        if not isinstance(description, str) or len(description) > _MAX_URL_LENGTH:
            raise _CallError(400, "'description' must be a short string")
        publisher = self._publisher(app, key)
        session = self._relay.session_of(publisher)
        if session is None:
            raise _CallError(409, f"the publisher of {app}/{key} is not an RTMP client here")
        summary = self._summary(session)
        capable = bool(
            summary and summary.caps_ex is not None and summary.caps_ex & CapsEx.RECONNECT
        )
        try:
            session.tell(ServerSessionActor.send_reconnect_request, url, description)
        except pykka.ActorDeadError:
            raise _CallError(404, f"nobody publishes {app}/{key}") from None
        grace = self._config.redirect_grace
        logger.info(
            "control (%s): asking %s, the publisher of %s/%s, to reconnect to %s%s",
            peer,
            publisher,
            app,
            key,
            url,
            f" (dropped if still here in {grace:g} s)" if grace else "",
        )
        if grace:
            self._relay.io_loop.call_later(grace, self._drop_if_stayed(publisher, url))
        return ControlReply(
            200,
            {
                "redirected": publisher,
                "url": url,
                "reconnect_capable": capable,
                "drop_after_seconds": grace or None,
            },
        )

    def _summary(self, session: ActorHandle[ServerSessionActor]) -> SessionSummary | None:
        try:
            return session.ask(ServerSessionActor.describe).get(timeout=self._timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None

    def _drop_if_stayed(self, connection_id: str, url: str) -> Callable[[], None]:
        """A timer callback (on the I/O loop): drop a redirected client that did not leave."""
        relay = self._relay

        def drop() -> None:
            session = relay.session_of(connection_id)
            if session is None:
                return  # it left, as asked
            logger.info(
                "control: %s did not reconnect to %s in time; dropping it", connection_id, url
            )
            with contextlib.suppress(pykka.ActorDeadError):
                session.tell(ServerSessionActor.close, f"redirected to {url}")

        return drop
