"""Lifecycle hooks as nginx-rtmp has them: HTTP notifications and exec commands.

Theory of operation:

* ``on_connect``, ``on_publish`` and ``on_play`` decide: they are the access callback
  (:class:`~rtmp_actors.relay.access.HttpCallback`, one URL per kind of request), asked by
  the :class:`~rtmp_actors.relay.access.AccessController` like ``--auth-url``, which stays
  an alias of ``on_publish`` plus ``on_play``.
* ``on_publish_done``, ``on_play_done`` and ``on_record_done`` notify after the fact: a
  POST with nginx-rtmp's fields on a bounded pool of worker threads, retried a few times
  (later, by the scheduler: no worker sleeps) when the hook has not answered or answered 5xx;
  a notification that cannot be made is logged, nothing else.
* ``on_update`` is asked every ``notify_update_timeout`` seconds about each publish and play;
  a non-2xx answer (with ``notify_update_strict``, also no answer or garbage) closes that
  connection, with a log line. :class:`SessionHooks` keeps one connection's timers; its
  actor (the relay receiver) is told when an update is due and what the hook answered.
* ``exec_publish``, ``exec_publish_done`` and ``exec_record_done`` run a command given as an
  argv list (:mod:`rtmp_actors.relay.hook_exec`: no shell, ever).

Nothing here blocks an actor: every HTTP call and command runs on a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rtmp_actors.relay.access import AccessKind, AccessRequest, client_fields
from rtmp_actors.relay.hook_exec import CommandRunner
from rtmp_actors.relay.hook_http import (
    BoundedPool,
    HookAnswer,
    check_hook_url,
    hook_opener,
    post_form,
)
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

__all__ = ["HOOK_URL_FIELDS", "HookSettings", "LifecycleHooks", "SessionHooks", "session_fields"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HookSettings:
    """The ``[hooks]`` table: HTTP callbacks and commands run as streams come and go.

    The names are nginx-rtmp's, and so are the form fields POSTed (see the README).

    Attributes:
        on_connect: Asked about each connect; 2xx accepts, anything else refuses.
        on_publish: Asked about each publish; 2xx allows (``auth_url`` if not given).
        on_play: Asked about each play; 2xx allows (``auth_url`` if not given).
        on_publish_done: Told when an accepted publisher stops.
        on_play_done: Told when an accepted player stops.
        on_record_done: Told when a recording file is finished (``path`` of the file).
        on_update: Asked every ``notify_update_timeout`` seconds about each publisher and
            player; a non-2xx answer closes that connection.
        notify_update_timeout: Seconds between ``on_update`` calls of one stream.
        notify_update_strict: Also close the connection when ``on_update`` gives no valid
            answer in time (nginx-rtmp's default is off; here a hook that hangs ends it).
        timeout: Seconds for connecting to a hook and for each read.
        retries: Further attempts of a ``*_done`` notification that got no answer or 5xx.
        retry_delay: Seconds before the first retry (doubled for each further one).
        exec_publish: Command (argv) run when a publisher is accepted.
        exec_publish_done: Command run when an accepted publisher stops.
        exec_record_done: Command run when a recording file is finished.
        exec_timeout: Seconds a command may run before it is killed.
        max_exec: Commands running at the same time.
        max_workers: HTTP notifications in flight at the same time.
        max_pending: HTTP notifications (or commands) queued; beyond this they are dropped.
    """

    on_connect: str | None = None
    on_publish: str | None = None
    on_play: str | None = None
    on_publish_done: str | None = None
    on_play_done: str | None = None
    on_record_done: str | None = None
    on_update: str | None = None
    notify_update_timeout: float = 30.0
    notify_update_strict: bool = True
    timeout: float = 5.0
    retries: int = 2
    retry_delay: float = 1.0
    exec_publish: tuple[str, ...] = ()
    exec_publish_done: tuple[str, ...] = ()
    exec_record_done: tuple[str, ...] = ()
    exec_timeout: float = 30.0
    max_exec: int = 4
    max_workers: int = 8
    max_pending: int = 256

    def check(self) -> None:
        """Raise ValueError for a URL that is not http(s) or a number out of range."""
        for name in HOOK_URL_FIELDS:
            url = getattr(self, name)
            if url is not None:
                if not isinstance(url, str):
                    msg = f"hooks: {name} should be a URL, not {url!r}"
                    raise ValueError(msg)
                check_hook_url(url, name)
        positive = ("notify_update_timeout", "timeout", "exec_timeout", "max_exec")
        for name in (*positive, "max_workers", "max_pending"):
            if getattr(self, name) <= 0:
                msg = f"hooks: {name} should be positive, not {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.retries < 0 or self.retry_delay < 0:
            msg = "hooks: retries and retry_delay should not be negative"
            raise ValueError(msg)

    def access_urls(self, auth_url: str | None = None) -> dict[AccessKind, str]:
        """The URLs that decide connects, publishes and plays (``auth_url`` as the default)."""
        urls = {
            AccessKind.CONNECT: self.on_connect,
            AccessKind.PUBLISH: self.on_publish or auth_url,
            AccessKind.PLAY: self.on_play or auth_url,
        }
        return {kind: url for kind, url in urls.items() if url}

    @property
    def follows_sessions(self) -> bool:
        """Whether anything happens when a publish or play starts or ends."""
        return bool(
            self.on_publish_done
            or self.on_play_done
            or self.on_update
            or self.exec_publish
            or self.exec_publish_done
        )

    @property
    def follows_recordings(self) -> bool:
        """Whether anything happens when a recording is finished."""
        return bool(self.on_record_done or self.exec_record_done)


HOOK_URL_FIELDS = (  # the settings that are URLs (also ``serve``'s ``--on-...`` flags)
    "on_connect",
    "on_publish",
    "on_play",
    "on_publish_done",
    "on_play_done",
    "on_record_done",
    "on_update",
)


def session_fields(request: AccessRequest) -> dict[str, str]:
    """nginx-rtmp's fields of every call about a stream: who asked, and for what."""
    return {**client_fields(request), "clientid": request.client_id, "name": request.name}


def _variables(request: AccessRequest) -> dict[str, str]:
    return {**session_fields(request), "type": request.publish_type}


class LifecycleHooks:
    """The relay's hooks: one instance shared by every connection and the recorder.

    Args:
        settings: What to call and run.
        scheduler: Runs a function later (the relay's I/O loop): retries, update timers.

    Raises:
        ValueError: For settings that are not valid (see :meth:`HookSettings.check`).
    """

    def __init__(self, settings: HookSettings, scheduler: Scheduler) -> None:
        settings.check()
        self.settings = settings
        self.schedule = scheduler
        self._opener = hook_opener()
        self._pool: BoundedPool | None = None
        self._commands = CommandRunner(
            settings.exec_timeout, settings.max_exec, settings.max_pending
        )

    def start(self) -> None:
        """Make the worker pools (again, after :meth:`stop`)."""
        if self._pool is None:
            settings = self.settings
            self._pool = BoundedPool(settings.max_workers, settings.max_pending, "rtmp-hook")
        self._commands.start()

    def stop(self) -> None:
        """Take no more work; what is queued still runs (each call within its timeout)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()
        self._commands.stop()

    # --- HTTP -------------------------------------------------------------------------------

    def post(self, url: str, form: Mapping[str, str], done: Callable[[HookAnswer], None]) -> bool:
        """POST ``form`` to ``url`` on a worker; ``done(answer)`` is called there.

        Returns:
            False (``done`` is never called) if too many calls are pending or stopped.
        """
        pool = self._pool
        timeout = self.settings.timeout
        return pool is not None and pool.submit(
            lambda: done(post_form(self._opener, url, form, timeout))
        )

    def notify(
        self,
        hook: str,
        url: str | None,
        form: Mapping[str, str],
        attempt: int = 0,
        finished: Callable[[HookAnswer], None] | None = None,
    ) -> None:
        """Tell ``url`` something happened; retried later if it got no answer or 5xx.

        ``finished`` gets the last answer once there is nothing more to try (for tests).
        """
        if url is None:
            return
        last = finished or (lambda _answer: None)
        what = f"{hook} {form.get('app', '')}/{form.get('name', '')}"

        def answered(answer: HookAnswer) -> None:
            if answer.status is not None and answer.status < 500:
                if not answer.ok:
                    logger.info("%s: the hook answered HTTP %s", what, answer.status)
                last(answer)
                return
            if attempt >= self.settings.retries:
                logger.warning(
                    "%s: not delivered to %s after %d attempts: %s",
                    what,
                    url,
                    attempt + 1,
                    answer.describe(),
                )
                last(answer)
                return
            delay = self.settings.retry_delay * 2**attempt
            logger.info("%s: %s, trying again in %g s", what, answer.describe(), delay)
            self.schedule(delay, lambda: self.notify(hook, url, form, attempt + 1, finished))

        if not self.post(url, form, answered):
            logger.warning("%s: dropped (too many hook calls pending, or stopping)", what)
            last(HookAnswer(None, error="dropped"))

    # --- What happens -----------------------------------------------------------------------

    def publish_started(self, request: AccessRequest) -> None:
        """A publisher was accepted: ``exec_publish``."""
        self._commands.run("exec_publish", self.settings.exec_publish, _variables(request))

    def publish_done(self, request: AccessRequest) -> None:
        """An accepted publisher stopped: ``on_publish_done`` and ``exec_publish_done``."""
        form = {**session_fields(request), "call": "publish_done"}
        self.notify("on_publish_done", self.settings.on_publish_done, form)
        self._commands.run(
            "exec_publish_done", self.settings.exec_publish_done, _variables(request)
        )

    def play_done(self, request: AccessRequest) -> None:
        """An accepted player stopped: ``on_play_done``."""
        form = {**session_fields(request), "call": "play_done"}
        self.notify("on_play_done", self.settings.on_play_done, form)

    def record_done(self, app: str, key: str, path: Path) -> None:
        """A recording file was finished: ``on_record_done`` and ``exec_record_done``.

        Called on the recorder's thread; returns at once.
        """
        form = {"call": "record_done", "recorder": "", "app": app, "name": key, "path": str(path)}
        self.notify("on_record_done", self.settings.on_record_done, form)
        variables = {
            "app": app,
            "name": key,
            "recorder": "",
            "path": str(path),
            "filename": path.name,
            "basename": path.stem,
            "dirname": str(path.parent),
        }
        self._commands.run("exec_record_done", self.settings.exec_record_done, variables)


@dataclass(slots=True)
class _Followed:
    request: AccessRequest
    started_at: float
    timer: TimerHandle | None = None
    asking: bool = False


@dataclass(slots=True)
class SessionHooks:
    """One connection's publishes and plays, as the hooks see them (owned by its actor).

    Args:
        hooks: The relay's hooks.
        update_due: Tells the owning actor that an ``on_update`` is due for
            ``(kind, stream_id)``; called on the scheduler's thread.
        update_answered: Tells the owning actor what ``on_update`` answered; called on a
            worker thread.
        clock: Monotonic seconds.
    """

    hooks: LifecycleHooks
    update_due: Callable[[AccessKind, int], None]
    update_answered: Callable[[AccessKind, int, HookAnswer], None]
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False, default=0.0)
    _requested: dict[tuple[AccessKind, int], AccessRequest] = field(
        init=False, default_factory=dict
    )
    _followed: dict[tuple[AccessKind, int], _Followed] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def requested(self, stream_id: int, request: AccessRequest) -> None:
        """A publish or play request was routed (its stream may accept it)."""
        self._requested[(request.kind, stream_id)] = request

    def renamed(self, stream_id: int, kind: AccessKind, name: str) -> None:
        """The callback sent the request on ``stream_id`` to the stream ``name``."""
        request = self._requested.get((kind, stream_id))
        if request is not None:
            key = f"{name}?{request.args}" if request.args else name
            self._requested[(kind, stream_id)] = dataclasses.replace(request, key=key)

    def started(self, kind: AccessKind, stream_id: int) -> None:
        """The stream accepted the publish or play on ``stream_id``."""
        request = self._requested.pop((kind, stream_id), None)
        if request is None:
            return
        self.ended(kind, stream_id)  # never two for one stream id
        followed = self._followed[(kind, stream_id)] = _Followed(request, self.clock())
        if kind is AccessKind.PUBLISH:
            self.hooks.publish_started(request)
        self._arm(kind, stream_id, followed)

    def ended(self, kind: AccessKind, stream_id: int) -> None:
        """The publish or play on ``stream_id`` ended: the ``*_done`` hooks."""
        followed = self._followed.pop((kind, stream_id), None)
        if followed is None:
            return
        if followed.timer is not None:
            followed.timer.cancel()
        if kind is AccessKind.PUBLISH:
            self.hooks.publish_done(followed.request)
        else:
            self.hooks.play_done(followed.request)

    def end_all(self) -> None:
        """The connection is gone: end everything still followed."""
        self._requested.clear()
        for kind, stream_id in list(self._followed):
            self.ended(kind, stream_id)

    def _arm(self, kind: AccessKind, stream_id: int, followed: _Followed) -> None:
        if self.hooks.settings.on_update is None:
            return
        due = self.update_due
        followed.timer = self.hooks.schedule(
            self.hooks.settings.notify_update_timeout, lambda: due(kind, stream_id)
        )

    def ask_update(self, kind: AccessKind, stream_id: int) -> None:
        """An update is due: ask ``on_update`` (the answer comes to ``update_answered``)."""
        followed = self._followed.get((kind, stream_id))
        url = self.hooks.settings.on_update
        if followed is None or url is None or followed.asking:
            return
        now = self.clock()
        form = {
            **session_fields(followed.request),
            "call": f"update_{kind.value}",
            "time": str(int(now - followed.started_at)),
            "timestamp": str(int((now - self._started) * 1000) & 0xFFFFFFFF),
        }
        answered = self.update_answered
        followed.asking = self.hooks.post(url, form, lambda a: answered(kind, stream_id, a))
        if not followed.asking:
            logger.warning("on_update skipped: too many hook calls pending")
            self._arm(kind, stream_id, followed)

    def update_result(self, kind: AccessKind, stream_id: int, answer: HookAnswer) -> str | None:
        """Judge ``on_update``'s answer: the reason to close the connection, or None.

        None also when that publish or play has ended meanwhile.
        """
        followed = self._followed.get((kind, stream_id))
        if followed is None:
            return None
        followed.asking = False
        request = followed.request
        what = f"{kind.value} {request.app}/{request.name} from {request.addr or '?'}"
        strict = self.hooks.settings.notify_update_strict
        if answer.ok or (answer.status is None and not strict):
            if not answer.ok:
                logger.warning("on_update about %s: %s (ignored)", what, answer.describe())
            self._arm(kind, stream_id, followed)
            return None
        # Not re-armed: the connection closes, and its end calls the *_done hooks.
        return f"on_update refused {what}: {answer.describe()}"
