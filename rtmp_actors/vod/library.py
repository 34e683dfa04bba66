"""A folder of FLV files played on demand to the players of one app.

A :class:`VodLibrary` serves one app: ``play app/name`` plays ``name`` (``.flv`` optional)
from the library's folder (:class:`~rtmp_actors.vod.files.VodFiles`), each play by its own
:class:`~rtmp_actors.vod.player.FilePlayer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rtmp_actors.actors.monitoring import ExitNotice, monitor
from rtmp_actors.transport.io_loop import Scheduler
from rtmp_actors.vod.files import VodFiles, VodSettings
from rtmp_actors.vod.player import FilePlayer

if TYPE_CHECKING:
    from rtmp_actors.relay.stream import PlayRequest

__all__ = ["VodLibrary", "VodSettings"]


class VodLibrary(VodFiles):
    """Plays the files of one folder to the players of one app.

    Thread-safe: the relay's receivers start players, which resolve names and share indexes.

    Args:
        settings: The folder and how to play.
        scheduler: ``scheduler(delay, callback)`` for the players' pacing timers.
        clock: Seconds, monotonic.

    Raises:
        ValueError: If ``settings.root`` is not a folder, or the lead is negative.
    """

    def __init__(
        self,
        settings: VodSettings,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings)
        self._schedule = scheduler
        self._clock = clock
        self._players = 0

    def serves(self, app: str) -> bool:
        """Whether plays of ``app`` are for this library."""
        return app == self.settings.app

    def play(self, request: PlayRequest, start: float = -2, length: float = -1) -> None:
        """Start a file player for ``request``; it accepts or refuses the play itself.

        Args:
            request: The play request; its key is the file name.
            start: The play's ``start`` argument in ms (negative: from the start).
            length: The play's ``len`` argument in ms (negative: to the end).
        """
        ref = FilePlayer.start(
            request, request.key, start, length, self, self._schedule, clock=self._clock
        )
        with self._lock:
            self._players += 1
        monitor(ref, self._player_exited)

    def _player_exited(self, _notice: ExitNotice) -> None:
        with self._lock:
            self._players -= 1

    @property
    def player_count(self) -> int:
        """File players running now (for ``/stats`` and ``/metrics``)."""
        with self._lock:
            return self._players
