"""What an actor that owns a connection's :class:`SessionHooks` shares: ``on_update`` as messages.

The hooks' timers fire on the I/O loop and their answers arrive on worker threads; both come
back to the owning actor as messages, so its state has one owner. The actor says what a
refusal does (closes the RTMP connection, ends the HTTP-FLV response).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.relay.access import AccessKind
from rtmp_actors.relay.hook_http import HookAnswer
from rtmp_actors.relay.hooks import LifecycleHooks, SessionHooks

__all__ = ["UpdateHookFollower"]


class UpdateHookFollower:
    """Mixin for a pykka actor whose publishes or plays the lifecycle hooks follow.

    Attributes:
        session_hooks: The connection's hooks, once :meth:`follow_sessions` made them.
    """

    session_hooks: SessionHooks | None = None

    if TYPE_CHECKING:  # pykka.Actor's, in the classes this is mixed into

        @property
        def actor_ref(self) -> pykka.ActorRef[Any]: ...

    def follow_sessions(self, lifecycle: LifecycleHooks | None) -> SessionHooks | None:
        """Make (and keep) the connection's hooks, reporting to this actor.

        Returns:
            None (and nothing kept) when no hook follows publishes and plays.
        """
        if lifecycle is None or not lifecycle.settings.follows_sessions:
            return None
        me: ActorHandle[UpdateHookFollower] = ActorHandle(self.actor_ref)

        def due(kind: AccessKind, stream_id: int) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(UpdateHookFollower.hook_update_due, kind, stream_id)

        def answered(kind: AccessKind, stream_id: int, answer: HookAnswer) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(UpdateHookFollower.hook_update_answered, kind, stream_id, answer)

        self.session_hooks = SessionHooks(lifecycle, due, answered)
        return self.session_hooks

    def hook_update_due(self, kind: AccessKind, stream_id: int) -> None:
        """Time to ask ``on_update`` about the publish or play on ``stream_id``."""
        if self.session_hooks is not None:
            self.session_hooks.ask_update(kind, stream_id)

    def hook_update_answered(self, kind: AccessKind, stream_id: int, answer: HookAnswer) -> None:
        """What ``on_update`` answered; anything but 2xx ends the connection."""
        if self.session_hooks is None:
            return
        reason = self.session_hooks.update_result(kind, stream_id, answer)
        if reason is not None:
            self.refused_by_update_hook(reason)

    def refused_by_update_hook(self, reason: str) -> None:
        """End the connection: ``on_update`` refused one of its publishes or plays."""
        raise NotImplementedError
