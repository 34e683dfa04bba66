"""Per-application settings, as nginx-rtmp's ``application`` blocks.

A relay without applications serves any app name. With ``[applications.NAME]`` tables (or
``RelayConfig(applications=...)``) it serves only those apps (plus the on-demand app, if any):
a connect to another app is refused with ``NetConnection.Connect.Rejected``. Each application
can turn live streaming off (an app for files on demand only), record or not (and where), push
and pull its own URLs, refuse or allow addresses with its own IP rules, and call its own
lifecycle hooks, and have HLS or not. A setting an
application leaves out is the relay's.

Sans-I/O: plain values, read by the relay's receiver, recorder and links.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rtmp_actors.relay.hooks import HookSettings
from rtmp_actors.relay.ip_rules import IpRules
from rtmp_actors.relay.upstream import LinkTarget

__all__ = ["Application", "Applications"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class Application:
    """What one application does differently from the relay.

    Attributes:
        name: The app name clients connect to (``rtmp://host/NAME``); letters, digits and
            ``._-``, at most 64 characters.
        live: Whether clients may publish and play live streams here (False: only files on
            demand, if this is the on-demand app).
        record: Record this app's streams (None: as the relay, i.e. if it records).
        record_dir: Where this app's recordings go (default: the relay's ``record_dir``).
        push: Push URLs for this app's streams instead of the relay's (None: the relay's).
        pull: Pull URLs for this app's streams instead of the relay's (None: the relay's).
        ip_rules: Address rules for this app instead of the relay's (None: the relay's).
        hooks: Lifecycle hooks for this app instead of the relay's ``[hooks]`` (None: the
            relay's).
        hls: Package this app's streams as HLS (None: as the relay, i.e. if it has
            ``[hls]``; True without ``[hls]``: with the default HLS settings).
    """

    name: str
    live: bool = True
    record: bool | None = None
    record_dir: str | None = None
    push: tuple[str, ...] | None = None
    pull: tuple[str, ...] | None = None
    ip_rules: IpRules | None = None
    hooks: HookSettings | None = None
    hls: bool | None = None

    def __post_init__(self) -> None:
        """Check the name and the URLs now, so a bad configuration starts nothing.

        Raises:
            ValueError: For a bad name, URL, or a record folder without recording.
        """
        if not _NAME.fullmatch(self.name):
            msg = f"application name {self.name!r}: use letters, digits and ._- (64 at most)"
            raise ValueError(msg)
        for url in (*(self.push or ()), *(self.pull or ())):
            LinkTarget.parse(url)
        if self.hooks is not None:
            self.hooks.check()
        if self.record is False and self.record_dir is not None:
            msg = f"application {self.name}: record_dir given but record = false"
            raise ValueError(msg)

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> Application:
        """Read an ``[applications.NAME]`` TOML table.

        Raises:
            ValueError: For an unknown key or a value of the wrong kind.
        """
        values: dict[str, Any] = {}
        for key, given in table.items():
            if key == "hooks" and isinstance(given, HookSettings):  # read by the config
                values[key] = given
                continue
            read = _READERS.get(key)
            if read is None:
                known = ", ".join(sorted({*_READERS, "hooks"}))
                msg = f"[applications.{name}] has no setting {key!r} (known: {known})"
                raise ValueError(msg)
            value = read(given)
            if value is None:
                msg = f"[applications.{name}] {key} should be {_EXPECTED[key]}, not {given!r}"
                raise ValueError(msg)
            values[key] = value
        return cls(name, **values)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _folder(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _urls(value: Any) -> tuple[str, ...] | None:
    ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return tuple(value) if ok else None


def _rules(value: Any) -> IpRules | None:
    rules = value.get("rules") if isinstance(value, dict) else value
    if not (isinstance(rules, list) and all(isinstance(rule, str) for rule in rules)):
        return None
    return IpRules.of(rules)


_READERS: dict[str, Callable[[Any], Any]] = {
    "live": _flag,
    "hls": _flag,
    "record": _flag,
    "record_dir": _folder,
    "push": _urls,
    "pull": _urls,
    "ip_rules": _rules,
}
_EXPECTED = {
    "live": "true or false",
    "hls": "true or false",
    "record": "true or false",
    "record_dir": "a folder",
    "push": "a list of URLs",
    "pull": "a list of URLs",
    "ip_rules": 'a list of rules ("allow publish 10.0.0.0/8", ...)',
}


@dataclass(frozen=True, slots=True)
class Applications:
    """The relay's applications; with none, every app name is served as the relay says.

    Attributes:
        apps: The applications by name.
        always_known: App names served even when not listed (the on-demand app).
    """

    apps: Mapping[str, Application] = field(default_factory=dict)
    always_known: frozenset[str] = frozenset()

    @classmethod
    def of(cls, apps: Iterable[Application], always_known: Iterable[str] = ()) -> Applications:
        """Index ``apps`` by name.

        Raises:
            ValueError: If two have the same name.
        """
        by_name: dict[str, Application] = {}
        for app in apps:
            if app.name in by_name:
                msg = f"application {app.name} is configured twice"
                raise ValueError(msg)
            by_name[app.name] = app
        return cls(by_name, frozenset(always_known))

    def __bool__(self) -> bool:
        return bool(self.apps)

    def knows(self, app: str) -> bool:
        """Whether clients may connect to ``app`` (any app, without applications)."""
        return not self.apps or app in self.apps or app in self.always_known

    def live_allowed(self, app: str) -> bool:
        """Whether ``app`` serves live streams."""
        application = self.apps.get(app)
        return application is None or application.live

    def record_dirs(self, default: str | None) -> dict[str, str | None]:
        """Each application's recording folder where it differs from ``default`` (None: off)."""
        dirs: dict[str, str | None] = {}
        for name, app in self.apps.items():
            if app.record is False:
                dirs[name] = None
            elif app.record_dir is not None:
                dirs[name] = app.record_dir
            elif app.record and default is None:
                msg = (
                    f"application {name}: record = true needs a record_dir (its own or the relay's)"
                )
                raise ValueError(msg)
        return dirs

    def records_anything(self, default: str | None) -> bool:
        """Whether some application records (so the relay needs a recorder)."""
        return default is not None or any(d is not None for d in self.record_dirs(default).values())

    def any_hls(self) -> bool:
        """Whether some application turns HLS on."""
        return any(app.hls for app in self.apps.values())

    def packages_hls(self, app: str, default: bool) -> bool:
        """Whether ``app``'s streams are packaged as HLS (``default``: the relay's choice)."""
        application = self.apps.get(app)
        if application is None or application.hls is None:
            return default
        return application.hls

    def ip_rules(self) -> dict[str, IpRules]:
        """The applications' own IP rules, by app name."""
        return {name: app.ip_rules for name, app in self.apps.items() if app.ip_rules is not None}

    def link_targets(self, relay_urls: Iterable[str], kind: str) -> tuple[LinkTarget, ...]:
        """The relay's push or pull URLs (``kind``), with each application's own in their place.

        An application with its own list uses only those, for its streams only; the relay's
        URLs skip its streams.
        """
        own = {name: getattr(app, kind) for name, app in self.apps.items()}
        own = {name: urls for name, urls in own.items() if urls is not None}
        targets = [replace(LinkTarget.parse(url), skip_apps=frozenset(own)) for url in relay_urls]
        for name, urls in own.items():
            for url in urls:
                target = LinkTarget.parse(url)
                targets.append(replace(target, pattern=f"{name}/{target.pattern}"))
        return tuple(targets)
