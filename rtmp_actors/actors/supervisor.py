"""Erlang-style supervisors for pykka actors.

A :class:`Supervisor` starts child actors from :class:`ChildSpec` s, restarts them when they
exit according to a :class:`Strategy` and each child's :class:`RestartPolicy`, and gives up
(fails itself) when children restart too often, so that its own supervisor can act.

Theory of operation:
    * Children must be :class:`~rtmp_actors.actors.monitoring.MonitoredActor` s. Right after
      starting a child the supervisor monitors it with a callback that only ``tell`` s the
      supervisor an exit message; a supervisor never ``ask`` s another actor. Exit messages
      are handled one at a time in the supervisor's thread, in arrival order.
    * The supervisor keeps its children in start order, each with the ref of its current
      incarnation, and matches exit messages by actor URN. Before it stops a child itself (to
      restart a group, to terminate it, or to shut down) it forgets that child's ref, so the
      exit message which follows matches nothing and is ignored: only exits the supervisor did
      not cause lead to restarts.
    * The initial children are started in ``__init__``, in the thread calling
      ``Supervisor.start()``, like Erlang's synchronous ``start_link``: if one fails to start,
      those already started are stopped and ``start()`` raises. Starting them there also
      registers them with pykka before the supervisor, so ``ActorRegistry.stop_all()``, which
      stops actors in reverse registration order, stops the supervisor before those children.
    * A restart stops the affected running siblings one by one in reverse start order, then
      starts the group in start order. Stopping sends pykka's stop message without blocking and
      waits on its future for at most the child's ``shutdown_timeout``; a child that is still
      busy after that is logged and left to finish on its own (pykka cannot kill a thread), and
      its replacement is started regardless.
    * Every restart (of one child or of a whole group) is one entry in a sliding window of
      ``max_seconds``. The restart that makes more than ``max_restarts`` entries stops every
      child in reverse start order and raises :class:`RestartIntensityExceededError` out of
      the supervisor's message handler: the supervisor fails, and its monitors (typically its
      own supervisor) see a ``FAILED`` notice carrying that exception.
    * If a child's ``start`` callable raises during a restart, the supervisor logs it and sends
      itself a retry message, so that other messages (a stop request, say) are handled in
      between; each retry counts as a restart, so a child that can never start again ends in
      :class:`RestartIntensityExceededError`.
    * Stopping the supervisor (or its failing) stops every running child in reverse start order
      from ``on_stop`` (or ``on_failure``). Exit messages arriving after that find the
      supervisor dead and are dropped.

Where pykka forces a difference from Erlang/OTP:
    * There is no ``brutal_kill``: a child that ignores its stop request cannot be killed, only
      abandoned after its ``shutdown_timeout``.
    * A restarted or dynamically started child is registered with pykka after its supervisor,
      so ``ActorRegistry.stop_all()`` stops it first, and the supervisor restarts it if it is
      ``PERMANENT`` (as OTP would) until ``stop_all`` reaches the supervisor, which then stops
      the replacement. Nothing leaks, but to shut down quietly stop the top supervisor first
      (``ref.stop(timeout=...)``) and call ``stop_all()`` afterwards as a safety net.
    * :meth:`Supervisor.terminate_child` also forgets the child's spec (OTP's
      ``terminate_child`` followed by ``delete_child``).
    * An exit with reason ``KILLED`` (pykka is stopping every actor because of ``SystemExit``
      or similar) is never restarted, whatever the policy.
"""

from __future__ import annotations

import collections
import enum
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, MonitoredActor, monitor
from rtmp_actors.errors import RtmpError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ChildHandle",
    "ChildInfo",
    "ChildSpec",
    "ChildStartError",
    "RestartIntensityExceededError",
    "RestartPolicy",
    "Strategy",
    "Supervisor",
]

logger = logging.getLogger(__name__)

_T_co = TypeVar("_T_co", covariant=True)


class RestartPolicy(enum.Enum):
    """When a child that exited on its own is restarted."""

    PERMANENT = "permanent"
    """Always."""

    TRANSIENT = "transient"
    """Only after it failed (an exit with reason ``FAILED``)."""

    TEMPORARY = "temporary"
    """Never; it is forgotten once it exits, and is not restarted with a group either."""


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them must be restarted."""

    ONE_FOR_ONE = "one_for_one"
    """Only that child."""

    ONE_FOR_ALL = "one_for_all"
    """Every child: the others are stopped (in reverse start order), then all are started."""

    REST_FOR_ONE = "rest_for_one"
    """That child and every child started after it: the later ones are stopped (in reverse
    start order), then the child and the later ones are started in start order."""


class RestartIntensityExceededError(RtmpError):
    """A supervisor gave up: its children restarted more often than it allows."""


class ChildStartError(RtmpError):
    """A child spec's ``start`` callable raised; the original exception is the cause."""


class ChildHandle(ActorHandle[_T_co]):
    """A handle to a supervised child that follows its restarts, like a registered name.

    Make it before the supervisor, hand it to the siblings that call the child, and give it
    to the child's :class:`ChildSpec`: the supervisor points it at each new incarnation. A
    call while the child is down (between a crash and its restart) raises
    ``pykka.ActorDeadError``, as a call to any stopped actor does.

    Args:
        name: For logs and errors.
    """

    __slots__ = ("_ref", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._ref: pykka.ActorRef[Any] | None = None

    @property
    def actor_ref(self) -> pykka.ActorRef[Any]:  # type: ignore[override]  # looked up, not set
        """The current incarnation's ref.

        Raises:
            pykka.ActorDeadError: If the child has not been started yet.
        """
        ref = self._ref
        if ref is None:
            msg = f"{self.name} is not running"
            raise pykka.ActorDeadError(msg)
        return ref

    def bind(self, ref: pykka.ActorRef[Any]) -> None:
        """Point the handle at a new incarnation (the supervisor does this)."""
        self._ref = ref

    def __repr__(self) -> str:
        return f"ChildHandle({self.name!r}, {self._ref})"


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start and look after one child.

    Attributes:
        child_id: Name of the child, unique within its supervisor.
        start: Starts the child and returns its ref, e.g. ``lambda: Worker.start(config)``.
            The actor must be a :class:`~rtmp_actors.actors.monitoring.MonitoredActor`.
            It runs in the supervisor's thread (or, for the initial children, in the thread
            calling ``Supervisor.start()``) and must not ``ask`` the supervisor.
        restart: When the child is restarted after exiting on its own.
        shutdown_timeout: Seconds to wait for the child to stop when the supervisor stops it.
            For a child that is itself a supervisor, allow for all of its own children's
            timeouts.
        handle: Pointed at every new incarnation, so that callers holding it reach the
            current one.
    """

    child_id: str
    start: Callable[[], pykka.ActorRef[Any]]
    restart: RestartPolicy = RestartPolicy.PERMANENT
    shutdown_timeout: float = 5.0
    handle: ChildHandle[Any] | None = None

    def __post_init__(self) -> None:
        if not self.child_id:
            msg = "ChildSpec.child_id must not be empty"
            raise ValueError(msg)
        if not self.shutdown_timeout >= 0:
            msg = f"ChildSpec.shutdown_timeout must be at least 0, not {self.shutdown_timeout}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as reported by :meth:`Supervisor.which_children`.

    Attributes:
        child_id: The child's id.
        actor_ref: The ref of its current incarnation, or ``None`` if it is not running (a
            transient child that stopped normally, or one that failed to restart).
        alive: Whether that actor was alive when the supervisor answered.
    """

    child_id: str
    actor_ref: pykka.ActorRef[Any] | None
    alive: bool

    @property
    def actor_urn(self) -> str | None:
        """The URN of the current incarnation, or ``None`` if it is not running."""
        return None if self.actor_ref is None else self.actor_ref.actor_urn


@dataclass(frozen=True, slots=True)
class _ChildExited:
    notice: ExitNotice


@dataclass(frozen=True, slots=True)
class _RetryRestart:
    child_id: str


class _Child:
    __slots__ = ("ref", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: pykka.ActorRef[Any] | None = None


def _forward_exit(supervisor: pykka.ActorRef[Supervisor], notice: ExitNotice) -> None:
    supervisor.tell(_ChildExited(notice))


class Supervisor(MonitoredActor):
    """Starts children, restarts them when they exit, and gives up when that happens too often.

    Use it from outside the actor system through a proxy, always with a timeout::

        sup = Supervisor.start([ChildSpec("reader", lambda: Reader.start(path))])
        sup.proxy().start_child(ChildSpec("writer", Writer.start)).get(timeout=10)
        sup.stop(timeout=30)

    A supervisor is a :class:`~rtmp_actors.actors.monitoring.MonitoredActor`, so it can be the
    child of another supervisor.
    """

    def __init__(
        self,
        children: Iterable[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start the initial children, in order.

        Args:
            children: The initial children, in start order.
            strategy: Which children to restart together.
            max_restarts: Most restarts allowed within ``max_seconds``; one more and the
                supervisor gives up. 0 means give up at the first restart.
            max_seconds: Length of the sliding window, in seconds of ``clock``.
            clock: Monotonic clock in seconds (injectable for tests).

        Raises:
            ValueError: If the arguments are out of range or two children share an id.
            ChildStartError: If a child's ``start`` callable raised (the children started
                before it have been stopped).
            TypeError: If a child's ``start`` callable did not return a ref to a
                :class:`~rtmp_actors.actors.monitoring.MonitoredActor` (ditto).
        """
        super().__init__()
        if max_restarts < 0:
            msg = f"max_restarts must be at least 0, not {max_restarts}"
            raise ValueError(msg)
        if not max_seconds > 0:
            msg = f"max_seconds must be positive, not {max_seconds}"
            raise ValueError(msg)
        self._strategy = strategy
        self._max_restarts = max_restarts
        self._max_seconds = max_seconds
        self._clock = clock
        self._restarts: collections.deque[float] = collections.deque()
        self._children: list[_Child] = []
        for spec in children:
            self._check_unique(spec.child_id)
            self._children.append(_Child(spec))
        try:
            for child in self._children:
                child.ref = self._launch(child.spec)
        except BaseException:
            self._stop_children()
            raise

    # -- API for callers outside the actor system (use through a proxy, with a timeout) --

    def start_child(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        """Start a new child after the existing ones and supervise it.

        Args:
            spec: The new child.

        Returns:
            The new child's ref.

        Raises:
            ValueError: If the supervisor already has a child with that id.
            ChildStartError: If ``spec.start`` raised.
            TypeError: If ``spec.start`` did not return a ref to a
                :class:`~rtmp_actors.actors.monitoring.MonitoredActor`.
        """
        self._check_unique(spec.child_id)
        child = _Child(spec)
        child.ref = ref = self._launch(spec)
        self._children.append(child)
        logger.info("%s: started child %r (%s)", self, spec.child_id, ref.actor_urn)
        return ref

    def terminate_child(self, child_id: str) -> bool:
        """Stop a child (waiting up to its ``shutdown_timeout``) and forget it.

        Args:
            child_id: The child's id.

        Returns:
            ``True`` if the child has stopped (or was not running), ``False`` if it was still
            stopping when its ``shutdown_timeout`` ran out.

        Raises:
            KeyError: If there is no child with that id.
        """
        child = self._find_id(child_id)
        if child is None:
            msg = f"{self} has no child {child_id!r}"
            raise KeyError(msg)
        self._children.remove(child)
        logger.info("%s: terminating child %r", self, child_id)
        return self._stop_child(child)

    def which_children(self) -> list[ChildInfo]:
        """Describe the children, in start order.

        Returns:
            One :class:`ChildInfo` per child.
        """
        return [
            ChildInfo(c.spec.child_id, c.ref, c.ref is not None and c.ref.is_alive())
            for c in self._children
        ]

    # -- pykka hooks --

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _ChildExited):
            self._child_exited(message.notice)
            return None
        if isinstance(message, _RetryRestart):
            self._retry_restart(message.child_id)
            return None
        return super().on_receive(message)

    def on_stop(self) -> None:
        self._stop_children()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop_children()

    # -- internals --

    def _check_unique(self, child_id: str) -> None:
        if self._find_id(child_id) is not None:
            msg = f"{self} already has a child {child_id!r}"
            raise ValueError(msg)

    def _find_id(self, child_id: str) -> _Child | None:
        return next((c for c in self._children if c.spec.child_id == child_id), None)

    def _launch(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        try:
            ref = spec.start()
        except Exception as exc:
            msg = f"child {spec.child_id!r} of {self} failed to start: {exc!r}"
            raise ChildStartError(msg) from exc
        if not (isinstance(ref, pykka.ActorRef) and issubclass(ref.actor_class, MonitoredActor)):
            if isinstance(ref, pykka.ActorRef):
                ref.stop(block=False)
            msg = (
                f"child {spec.child_id!r} of {self}: start() must return the ref of a "
                f"MonitoredActor, not {ref!r}"
            )
            raise TypeError(msg)
        monitor(ref, functools.partial(_forward_exit, self.actor_ref))
        if spec.handle is not None:
            spec.handle.bind(ref)
        return ref

    def _stop_child(self, child: _Child) -> bool:
        ref, child.ref = child.ref, None
        if ref is None:
            return True
        try:
            ref.stop(block=False).get(timeout=child.spec.shutdown_timeout)
        except pykka.Timeout:
            logger.warning(
                "%s: child %r (%s) did not stop within %.1f s; leaving it to finish",
                self,
                child.spec.child_id,
                ref.actor_urn,
                child.spec.shutdown_timeout,
            )
            return False
        return True

    def _stop_children(self) -> None:
        for child in reversed(self._children):
            self._stop_child(child)

    def _child_exited(self, notice: ExitNotice) -> None:
        child = next(
            (
                c
                for c in self._children
                if c.ref is not None and c.ref.actor_urn == notice.actor_urn
            ),
            None,
        )
        if child is None:
            logger.debug("%s: ignoring exit of %s, not a current child", self, notice)
            return
        child.ref = None
        policy = child.spec.restart
        if (
            notice.reason is ExitReason.KILLED
            or policy is RestartPolicy.TEMPORARY
            or (policy is RestartPolicy.TRANSIENT and notice.reason is ExitReason.NORMAL)
        ):
            logger.info(
                "%s: child %r: %s; %s, not restarting",
                self,
                child.spec.child_id,
                notice,
                policy.value,
            )
            if policy is RestartPolicy.TEMPORARY:
                self._children.remove(child)
            return
        self._restart(child, str(notice), notice.exception)

    def _retry_restart(self, child_id: str) -> None:
        child = self._find_id(child_id)
        if child is None or child.ref is not None:
            return  # terminated meanwhile, or started again by a later group restart
        self._restart(child, "could not be started", None)

    def _restart(self, child: _Child, cause: str, exception: BaseException | None) -> None:
        child_id = child.spec.child_id
        now = self._clock()
        self._restarts.append(now)
        while now - self._restarts[0] >= self._max_seconds:
            self._restarts.popleft()
        if len(self._restarts) > self._max_restarts:
            logger.error(
                "%s: child %r: %s; %d restarts in %.1f s (max_restarts=%d), giving up",
                self,
                child_id,
                cause,
                len(self._restarts),
                self._max_seconds,
                self._max_restarts,
            )
            self._stop_children()
            msg = (
                f"{self}: {len(self._restarts)} restarts in {self._max_seconds} s "
                f"(max_restarts={self._max_restarts}), the last for child {child_id!r}: {cause}"
            )
            raise RestartIntensityExceededError(msg) from exception

        if self._strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        elif self._strategy is Strategy.ONE_FOR_ALL:
            group = list(self._children)
        else:
            group = self._children[self._children.index(child) :]
        # Temporary siblings are stopped with the group but not restarted: they are forgotten.
        dropped = [c for c in group if c is not child and c.spec.restart is RestartPolicy.TEMPORARY]
        if self._strategy is Strategy.ONE_FOR_ONE:
            logger.warning("%s: child %r: %s; restarting it", self, child_id, cause)
        else:
            logger.warning(
                "%s: child %r: %s; %s restart of %s",
                self,
                child_id,
                cause,
                self._strategy.value,
                ", ".join(repr(c.spec.child_id) for c in group if c not in dropped),
            )
        for sibling in reversed(group):
            if sibling is not child:
                self._stop_child(sibling)
        for sibling in dropped:
            self._children.remove(sibling)
            group.remove(sibling)

        for member in group:
            try:
                member.ref = self._launch(member.spec)
            except Exception:
                logger.exception(
                    "%s: child %r failed to restart; will try again", self, member.spec.child_id
                )
                self.actor_ref.tell(_RetryRestart(member.spec.child_id))
                return
