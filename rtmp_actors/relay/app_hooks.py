"""The relay's lifecycle hooks, and each application's own where it has them.

An application with a ``hooks`` table uses only those hooks (its connects, publishes, plays
and recordings), the relay's ``auth_url`` still deciding publishes and plays its hooks do not
name; every other application uses the relay's ``[hooks]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from rtmp_actors.relay.access import AccessKind, HttpCallback
from rtmp_actors.relay.hooks import HookSettings, LifecycleHooks
from rtmp_actors.transport.io_loop import Scheduler

__all__ = ["HookSet", "RelayHooks"]


@dataclass(frozen=True, slots=True)
class HookSet:
    """One set of hooks: what asks about access, and what follows sessions and recordings.

    Attributes:
        urls: The URLs that decide connects, publishes and plays.
        timeout: Seconds those have to answer.
        lifecycle: The ``*_done``, ``on_update`` and ``exec_*`` hooks, if any.
    """

    urls: Mapping[AccessKind, str]
    timeout: float
    lifecycle: LifecycleHooks | None

    @classmethod
    def of(
        cls, settings: HookSettings, auth_url: str | None, auth_timeout: float, scheduler: Scheduler
    ) -> HookSet:
        """Build (and check) one set.

        Raises:
            ValueError: For settings that are not valid.
        """
        settings.check()
        follows = settings.follows_sessions or settings.follows_recordings
        return cls(
            settings.access_urls(auth_url),
            auth_timeout if auth_url else settings.timeout,
            LifecycleHooks(settings, scheduler) if follows else None,
        )

    def callback(self) -> HttpCallback | None:
        """A new HTTP callback for the access URLs (one per access controller incarnation)."""
        return HttpCallback(self.urls, self.timeout) if self.urls else None

    @property
    def checks_connect(self) -> bool:
        """Whether connects are asked about (``on_connect``)."""
        return AccessKind.CONNECT in self.urls


@dataclass(frozen=True, slots=True)
class RelayHooks:
    """The relay's hook set and the applications' own.

    Attributes:
        default: For applications without their own.
        by_app: Applications' own sets, by app name.
    """

    default: HookSet
    by_app: Mapping[str, HookSet]

    def for_app(self, app: str) -> HookSet:
        """The hooks of ``app``."""
        return self.by_app.get(app, self.default)

    def all(self) -> Iterator[HookSet]:
        """Every set, the relay's first."""
        yield self.default
        yield from self.by_app.values()

    @property
    def asks_access(self) -> bool:
        """Whether any set asks a URL about access (so the relay needs an access controller)."""
        return any(hooks.urls for hooks in self.all())

    def callbacks(self) -> tuple[HttpCallback | None, dict[str, HttpCallback | None]]:
        """New HTTP callbacks: the relay's, and each application's own."""
        return self.default.callback(), {app: h.callback() for app, h in self.by_app.items()}

    def start(self) -> None:
        """Make the hooks' worker pools."""
        for hooks in self.all():
            if hooks.lifecycle is not None:
                hooks.lifecycle.start()

    def stop(self) -> None:
        """Stop the hooks' worker pools."""
        for hooks in self.all():
            if hooks.lifecycle is not None:
                hooks.lifecycle.stop()

    def record_done(self) -> Callable[[str, str, Path], None] | None:
        """What the recorder calls when a file is finished; None if no hooks follow recordings."""
        if not any(h.lifecycle and h.lifecycle.settings.follows_recordings for h in self.all()):
            return None

        def finished(app: str, key: str, path: Path) -> None:
            lifecycle = self.for_app(app).lifecycle
            if lifecycle is not None and lifecycle.settings.follows_recordings:
                lifecycle.record_done(app, key, path)

        return finished
