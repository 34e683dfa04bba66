"""Coalescing without a timer: work that waits until an actor's mailbox is empty.

An actor that hands results on after every message pays a thread switch per message to
whoever takes them. When messages pile up (the peer sends faster than one message's
handling), handing everything on once the pile is worked off costs one switch for all of
them, and costs nothing when there is no pile: an empty mailbox means "now".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["WhenIdle"]


class WhenIdle:
    """Runs ``action`` once the owning actor has handled everything in its mailbox.

    :meth:`request` runs it at once if the mailbox is empty; otherwise it posts this object
    to the mailbox (once), behind what is already there, and :class:`MonitoredActor` runs
    the action when it comes round. The action may run earlier if the owner calls it
    itself (to keep order with something else it sends); a later marker then finds little
    or nothing to do.

    Args:
        actor: The owning actor (a running :class:`MonitoredActor`).
        action: What to run, on the actor's thread.
    """

    __slots__ = ("_action", "_actor", "_posted")

    def __init__(self, actor: Any, action: Callable[[], None]) -> None:
        self._actor = actor
        self._action = action
        self._posted = False

    def request(self) -> None:
        """Run the action now if nothing waits in the mailbox, else after what waits."""
        if self._actor.actor_inbox.empty():
            self._action()
        elif not self._posted:
            self._posted = True
            self._actor.actor_ref.tell(self)

    def run(self) -> None:
        """The posted marker came round: run the action (called by the actor loop)."""
        self._posted = False
        self._action()
