"""The relay server: an RtmpServer whose connections meet in a stream registry, supervised.

Theory of operation:

* A running relay is a :class:`Supervisor` (one-for-one, permanent children), started in this
  order and stopped in the reverse one: ``access`` (the :class:`AccessController`, if auth is
  configured), ``recorder`` (the :class:`StreamRecorder`, if recording), ``hls`` (the
  :class:`HlsPackager`, if HLS is on), ``registry`` (the
  :class:`StreamRegistry`, which supervises the live streams), ``push-relay`` and
  ``pull-relay`` (if any push or pull URLs, or a cluster), ``rtmp-server`` (the
  :class:`RtmpServer`'s own tree: listener and connections), ``rtmps-server`` (the same over
  TLS, with ``config.tls``: both feed the same registry), and in a cluster
  ``cluster-listener`` (a private listener for the other nodes, with ``cluster_port``) and
  ``cluster`` (the :class:`ClusterNode`; it advertises a bound address). Stopping it
  therefore leaves the cluster first (releasing the claims), then closes the sessions,
  the upstream links, the streams (whose last words reach the recorder), and the
  recorder, which closes its files.
* Siblings call each other through :class:`ChildHandle` s, which follow restarts, so a
  restarted child is reached at once by everybody. A restarted registry adopts the streams
  that are still running (see :mod:`rtmp_actors.relay.registry`); a restarted stream observer
  (recorder, push or pull relay) has the running streams describe themselves to it
  (``describe_streams``), so it records, pushes and pulls them again at once. A
  restart-intensity overflow fails the whole relay, as in OTP; :meth:`RelayServer.wait`
  returns then, and the log says which child gave up and why.
* The relay owns its I/O loop (sockets and timers), started with the tree and stopped after
  it, so a relay run by the user's own supervisor (:meth:`RelayServer.child_spec`) starts and
  stops cleanly as one child.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_info import ClientInfo
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, monitor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.actors.supervisor import ChildHandle, ChildSpec, ChildStartError, Supervisor
from rtmp_actors.cluster.directory import DirectoryError
from rtmp_actors.cluster.directory_url import open_directory
from rtmp_actors.cluster.node import ClusterNode, ClusterSettings, new_node_id
from rtmp_actors.cluster.view import ClusterView
from rtmp_actors.relay.access import AccessController, AccessFile
from rtmp_actors.relay.app_hooks import HookSet, RelayHooks
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.generated import GeneratedStream, SourceError, SourceStats
from rtmp_actors.relay.hls import HlsPackager, hls_root
from rtmp_actors.relay.hooks import LifecycleHooks
from rtmp_actors.relay.http_stats import StatsHttpServer
from rtmp_actors.relay.links import LinkSettings, PullRelay, PushRelay, RelayLinks, bind_observer
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.receiver import RelayReceiver
from rtmp_actors.relay.recording import StreamRecorder
from rtmp_actors.relay.registry import PublishRoute, StreamRegistry, StreamTable
from rtmp_actors.relay.stream import LiveStream, StreamStats
from rtmp_actors.relay.tls import server_context
from rtmp_actors.server import RtmpServer
from rtmp_actors.transport.address_slots import AddressSlots
from rtmp_actors.transport.io_loop import IoLoop, TimerHandle
from rtmp_actors.vod.library import VodLibrary, VodSettings

if TYPE_CHECKING:
    from behaviours.stream_source import StreamSource

__all__ = ["RelayServer"]

logger = logging.getLogger(__name__)


class _RelayTree(Supervisor):
    """The relay's supervisor; it also runs the relay's I/O loop."""

    def __init__(self, relay: RelayServer, children: list[ChildSpec]) -> None:
        self._relay = relay
        try:
            super().__init__(children, max_restarts=5, max_seconds=10.0)
        except BaseException:
            relay.tree_stopped()
            raise

    def on_stop(self) -> None:
        super().on_stop()
        self._relay.tree_stopped()

    def on_failure(self, *exc_info: Any) -> None:
        super().on_failure(*exc_info)
        self._relay.tree_stopped()


class RelayServer:
    """A live relay: any app, any stream key; players get what publishers send.

    Built only from the public API: an :class:`RtmpServer` whose per-connection event
    receivers (:class:`RelayReceiver`) route requests to a :class:`StreamRegistry`, all under
    one supervisor. Run it alone (``start()``/``stop()``) or in your own supervision tree
    (:meth:`child_spec`). With ``config.vod_dir``, plays of ``config.vod_app`` play the
    folder's files instead (see :mod:`rtmp_actors.vod`; :attr:`vod` is the library).
    """

    def __init__(
        self, config: RelayConfig | None = None, *, link_settings: LinkSettings | None = None
    ) -> None:
        self.config = config or RelayConfig()
        self._loop = IoLoop(name="rtmp-relay-io")
        # Access rules and the record folder are checked first: a bad one starts nothing.
        self._access_file = AccessFile(self.config.auth_file) if self.config.auth_file else None
        config = self.config
        self._hooks = RelayHooks(
            HookSet.of(config.hooks, config.auth_url, config.auth_timeout, self._call_later),
            {
                name: HookSet.of(app.hooks, config.auth_url, config.auth_timeout, self._call_later)
                for name, app in config.applications.apps.items()
                if app.hooks is not None
            },
        )
        self._link_settings = link_settings
        self._links = self._new_links()  # parses the push and pull URLs
        self.vod: VodLibrary | None = (
            VodLibrary(
                VodSettings(self.config.vod_dir, self.config.vod_app, self.config.vod_lead),
                self._call_later,
            )
            if self.config.vod_dir
            else None
        )
        self.registry: ChildHandle[StreamRegistry] = ChildHandle("registry")
        self.cluster: ChildHandle[ClusterNode] | None = (
            ChildHandle("cluster") if self.config.cluster else None
        )
        self._node_id = new_node_id()  # kept across restarts: same claims
        self._app_ip_rules = self.config.applications.ip_rules()
        asks = (
            self._access_file is not None
            or self._hooks.asks_access
            or self.config.ip_rules
            or self._app_ip_rules
        )
        self.access: ChildHandle[AccessController] | None = ChildHandle("access") if asks else None
        # Recording everything, or (for the control API) only the streams it asks for.
        control = self.config.control
        self._record_all = bool(self.config.record_dir)
        self._record_dir = self.config.record_dir or (control.record_dir if control.token else None)
        # Applications that record otherwise (another folder, or not at all); checked now.
        self._app_record_dirs = self.config.applications.record_dirs(self._record_dir)
        if self._record_dir is None:  # only some applications record: any of their folders
            self._record_dir = next((d for d in self._app_record_dirs.values() if d), None)
        self.recorder: ChildHandle[StreamRecorder] | None = (
            ChildHandle("recorder") if self._record_dir else None
        )
        # HLS for every app, or (per application) some: those take the defaults if need be.
        self._hls = self.config.hls_in_effect
        self.hls: ChildHandle[HlsPackager] | None = (
            ChildHandle("hls") if self._hls is not None else None
        )
        self._hls_root, self._hls_temporary = hls_root(self._hls, self.config.shared_hls_dir)
        self._table = StreamTable()
        # One count per address over both listeners: TLS is no way round the limit.
        self._address_slots = AddressSlots(self.config.max_connections_per_address)
        self._server = self._rtmp_server(self.config.port, reuse_port=self.config.reuse_port)
        # Read now: a missing or bad certificate fails the relay before anything starts.
        tls = self.config.tls
        if tls.https_port is not None and self.config.http_port is None:
            msg = "an HTTPS port serves the HTTP port's content: it needs the HTTP port too"
            raise ValueError(msg)
        self._tls_context = (
            server_context(tls) if tls.port is not None or tls.https_port is not None else None
        )
        self._tls_server = (
            self._rtmp_server(
                tls.port, reuse_port=self.config.reuse_port, ssl_context=self._tls_context
            )
            if tls.port is not None
            else None
        )
        # For the cluster's other nodes, when workers share the main port (see cluster_port).
        self._cluster_server = (
            self._rtmp_server(self.config.cluster_port, address_slots=AddressSlots())
            if self.cluster is not None and self.config.cluster_port is not None
            else None
        )
        self._tree: pykka.ActorRef[Any] | None = None
        self._ended = threading.Event()
        self._started_at: float | None = None
        self._http: StatsHttpServer | None = None
        self._sources: dict[tuple[str, str], pykka.ActorRef[GeneratedStream]] = {}
        self._sources_lock = threading.Lock()

    def _rtmp_server(
        self,
        port: int,
        *,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        address_slots: AddressSlots | None = None,
    ) -> RtmpServer:
        return RtmpServer(
            self.config.host,
            port,
            event_receiver_factory=lambda info: RelayReceiver.start(
                info,
                self.registry,
                self.access,
                publish_route=self.cluster,
                vod=self.vod,
                hooks=self._hooks,
                applications=self.config.applications,
            ),
            config=self.config.session,
            flow=self.config.flow,
            max_connections=self.config.max_connections,
            io_loop=self._loop,
            reuse_port=reuse_port,
            ssl_context=ssl_context,
            address_slots=address_slots or self._address_slots,
        )

    def _new_links(self) -> RelayLinks:
        applications = self.config.applications
        return RelayLinks(
            applications.link_targets(self.config.push, "push"),
            applications.link_targets(self.config.pull, "pull"),
            scheduler=self._call_later,
            io_loop=self._loop,
            settings=self._link_settings,
            pull_on_demand=self.config.cluster is not None,
        )

    def _call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_later(delay, callback)  # whichever loop runs now

    # --- Supervision --------------------------------------------------------------------------

    def child_spec(self, child_id: str = "rtmp-relay") -> ChildSpec:
        """A spec that runs this relay as a child of your own :class:`Supervisor`."""
        return ChildSpec(child_id, self._start_tree, shutdown_timeout=60.0)

    def _children(self) -> list[ChildSpec]:
        children: list[ChildSpec] = []
        observers: list[ActorHandle[StreamObserver]] = []
        patient: list[ActorHandle[StreamObserver]] = []  # HLS: media in batches will do
        access_file, config, hooks = self._access_file, self.config, self._hooks
        if self.access is not None:

            def start_access() -> pykka.ActorRef[Any]:
                # Fresh callbacks per incarnation: a failed controller shuts their pools down.
                callback, app_callbacks = hooks.callbacks()
                return AccessController.start(
                    access_file,
                    callback,
                    self._call_later,
                    ip_rules=config.ip_rules or None,
                    app_ip_rules=self._app_ip_rules,
                    app_callbacks=app_callbacks,
                )

            children.append(ChildSpec("access", start_access, handle=self.access))
        if self.recorder is not None:
            record_dir = self._record_dir
            assert record_dir is not None
            recorder = self.recorder
            record_done = self._hooks.record_done()
            children.append(
                ChildSpec(
                    "recorder",
                    lambda: bind_observer(
                        StreamRecorder.start(
                            record_dir,
                            origin_only=self.cluster is not None,
                            record_all=self._record_all,
                            finished=record_done,
                            app_directories=self._app_record_dirs,
                        ),
                        recorder,
                        self.registry,
                    ),
                    handle=recorder,
                    shutdown_timeout=30.0,
                )
            )
            observers.append(recorder)
        if self.hls is not None:
            children.append(self._hls_child(self.hls))
            patient.append(self.hls)
        observers.extend(self._links.observers)
        if self.cluster is not None:
            observers.append(self.cluster)
        children.append(
            ChildSpec(
                "registry",
                lambda: StreamRegistry.start(
                    config.stream,
                    self._call_later,
                    observers=observers,
                    patient_observers=patient,
                    table=self._table,
                    me=self.registry,
                ),
                handle=self.registry,
                shutdown_timeout=15.0,
            )
        )
        children.extend(self._links.child_specs(self.registry))
        children.append(self._server.child_spec("rtmp-server"))
        if self._tls_server is not None:
            children.append(self._tls_server.child_spec("rtmps-server"))
        if self._cluster_server is not None:
            children.append(self._cluster_server.child_spec("cluster-listener"))
        if self.cluster is not None:
            # After the servers: it advertises the address a server is bound to.
            children.append(ChildSpec("cluster", self._start_cluster_node, handle=self.cluster))
        return children

    def _hls_child(self, handle: ChildHandle[HlsPackager]) -> ChildSpec:
        settings, root = self._hls, self._hls_root
        assert settings is not None
        assert root is not None
        applications, default = self.config.applications, self.config.hls is not None
        packages = (lambda app: applications.packages_hls(app, default)) if applications else None
        # Workers share the folder: a stream pulled from another worker is written there.
        shared = self.config.reuse_port and self.cluster is not None
        return ChildSpec(
            "hls",
            lambda: bind_observer(
                HlsPackager.start(root, settings, packages, origin_only=shared),
                handle,
                self.registry,
            ),
            handle=handle,
            shutdown_timeout=30.0,
        )

    @property
    def hls_root(self) -> Path | None:
        """The folder HLS playlists and segments are written to (None without HLS)."""
        return self._hls_root

    def _start_cluster_node(self) -> pykka.ActorRef[Any]:
        assert self.cluster is not None
        assert self.config.cluster is not None
        directory = open_directory(self.config.cluster)
        ref = ClusterNode.start(
            self.cluster_settings,
            directory,
            self.registry,
            self._links.pull,
            self._call_later,
            takeover=self.config.stream.takeover,
            load=lambda: sum(server.connection_count for server in self.client_servers),
        )
        return bind_observer(ref, self.cluster, self.registry)

    @property
    def cluster_settings(self) -> ClusterSettings:
        """This relay's cluster settings (once it listens: the address is part of them).

        Raises:
            ValueError: Without ``config.cluster``, or if the address to advertise is not
                known (a wildcard listening address and no ``config.advertise``).
        """
        if self.config.cluster is None:
            msg = "the relay is not in a cluster"
            raise ValueError(msg)
        advertise = self.config.advertise
        if advertise is None:
            server = self._cluster_server or self._server
            host, port = server.address
            if host in ("0.0.0.0", "::", ""):
                msg = f"listening on {host}: say which address other nodes reach (advertise)"
                raise ValueError(msg)
            advertise = f"rtmp://{host}:{port}"
        return ClusterSettings(
            self.config.cluster,
            advertise,
            node_id=self._node_id,
            chain_after=self.config.chain_after,
        )

    def _start_tree(self) -> pykka.ActorRef[Any]:
        if not self._loop.running:
            if self._started_at is not None:  # a restart by the user's supervisor
                self._loop = IoLoop(name="rtmp-relay-io")
                self._server.share_loop(self._loop)
                if self._tls_server is not None:
                    self._tls_server.share_loop(self._loop)
                if self._cluster_server is not None:
                    self._cluster_server.share_loop(self._loop)
                self._links = self._new_links()
            self._loop.start()
        self._ended.clear()
        self._started_at = time.monotonic()
        self._hooks.start()
        ref: pykka.ActorRef[Any] = _RelayTree.start(self, self._children())
        monitor(ref, self._tree_exited)
        return ref

    def tree_stopped(self) -> None:
        """Stop the I/O loop (the relay's supervisor calls this once its children are gone)."""
        self._hooks.stop()
        self._loop.stop()

    def _tree_exited(self, notice: ExitNotice) -> None:
        if notice.reason is not ExitReason.NORMAL:
            logger.error("the relay gave up: %s", notice)
        self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the relay has stopped or given up; False on timeout."""
        return self._ended.wait(timeout)

    # --- Life cycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening, and serving stats if ``config.http_port`` is set; returns self.

        Raises:
            OSError: If the RTMP or the HTTP address cannot be bound.
        """
        try:
            self._tree = self._start_tree()
        except ChildStartError as error:
            cause = error.__cause__
            while isinstance(cause, ChildStartError):
                cause = cause.__cause__
            if isinstance(cause, OSError | DirectoryError | ValueError):
                raise cause from None
            raise
        hls = self._hls
        if hls is not None and hls.dir is None and self.config.http_port is None:
            logger.warning("HLS is on without an HTTP port or a folder: nobody can read it")
        if self.config.http_port is not None:
            try:
                self._http = StatsHttpServer(
                    self,
                    self.config.http_host,
                    self.config.http_port,
                    max_clients=self.config.http_max_requests,
                    max_players=self.config.max_connections,
                    http_flv=self.config.http_flv,
                    control=self.config.control,
                    hls_root=self._hls_root,
                    address_slots=self._address_slots,
                    https=self._https(),
                    reuse_port=self.config.reuse_port,
                ).start()
            except (OSError, ValueError):
                self.stop()
                raise
        return self

    @property
    def http_address(self) -> tuple[str, int] | None:
        """The (host, port) of the stats endpoint, or None when it is not served."""
        return self._http.address if self._http is not None else None

    def _https(self) -> tuple[int, ssl.SSLContext] | None:
        port = self.config.tls.https_port
        if port is None or self._tls_context is None:
            return None
        return port, self._tls_context

    @property
    def https_address(self) -> tuple[str, int] | None:
        """The (host, port) of the HTTP port's HTTPS twin, or None without one."""
        return self._http.https_address if self._http is not None else None

    @property
    def uptime(self) -> float:
        """Seconds since :meth:`start` (0 before)."""
        return 0.0 if self._started_at is None else time.monotonic() - self._started_at

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the relay listens on."""
        return self._server.address

    @property
    def client_servers(self) -> list[RtmpServer]:
        """The servers clients connect to: the plain one, and the RTMPS one if any."""
        return [self._server] if self._tls_server is None else [self._server, self._tls_server]

    def lifecycle_hooks(self, app: str) -> LifecycleHooks | None:
        """The ``*_done``, ``on_update`` and ``exec_*`` hooks of an app: its own or the relay's."""
        return self._hooks.for_app(app).lifecycle

    def pulls_on_demand(self, app: str, key: str) -> bool:
        """Whether a player of ``app/key`` makes the relay pull it (``pull`` URLs, a cluster)."""
        return self._links.pulls(app, key)

    def clients(self, timeout: float = 2.0) -> list[ClientInfo]:
        """Every open client connection, plain RTMP and RTMPS (see :meth:`RtmpServer.clients`)."""
        return [client for server in self.client_servers for client in server.clients(timeout)]

    def session_of(self, connection_id: str) -> ActorHandle[ServerSessionActor] | None:
        """The session actor of an open client connection (plain or RTMPS), or None."""
        for server in self.client_servers:
            session = server.session_of(connection_id)
            if session is not None:
                return session
        return None

    @property
    def tls_address(self) -> tuple[str, int] | None:
        """The (host, port) of the RTMPS listener, or None without one."""
        return self._tls_server.address if self._tls_server is not None else None

    def reload_tls(self) -> bool:
        """Read the certificate and key again; new RTMPS and HTTPS connections use them now.

        Connections already open keep the context they started with. A pair that does not
        load is logged and the current one kept.

        Returns:
            True if the new pair is in use; False if it did not load or there is no TLS
            listener.
        """
        if self._tls_context is None:
            return False
        try:
            context = server_context(self.config.tls)
        except (OSError, ValueError) as error:
            logger.error("TLS certificate not reloaded, keeping the current one: %s", error)
            return False
        self._tls_context = context
        if self._tls_server is not None:
            self._tls_server.ssl_context = context  # read once per accepted connection
        if self._http is not None:
            self._http.use_tls_context(context)
        logger.info("TLS certificate reloaded from %s", self.config.tls.cert)
        return True

    @property
    def io_loop(self) -> IoLoop:
        """The relay's I/O loop (sockets and timers), e.g. for HTTP-FLV players' sockets."""
        return self._loop

    @property
    def rtmp_server(self) -> RtmpServer:
        """The underlying server."""
        return self._server

    @property
    def push_relay(self) -> ChildHandle[PushRelay] | None:
        """The push relay (None without push URLs); it follows restarts."""
        return self._links.push

    @property
    def pull_relay(self) -> ChildHandle[PullRelay] | None:
        """The pull relay (None without pull URLs); it follows restarts."""
        return self._links.pull

    @property
    def supervisor(self) -> pykka.ActorRef[Any] | None:
        """The relay's supervisor while it runs standalone (``which_children`` and the like)."""
        return self._tree

    def stream_refs(self) -> list[pykka.ActorRef[LiveStream]]:
        """The live streams' actors (a snapshot)."""
        return self._table.refs()

    def cluster_view(self, timeout: float = 5.0) -> ClusterView | None:
        """The cluster as this node sees it (from outside the actor system); None outside one.

        None too if the node does not answer within ``timeout`` (restarting, say).
        """
        if self.cluster is None:
            return None
        try:
            return self.cluster.ask(ClusterNode.view).get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None

    def stream_stats(self, timeout: float = 5.0) -> list[StreamStats]:
        """A snapshot of every live stream (from outside the actor system).

        The streams are all asked at once; one that does not answer within ``timeout`` (or
        stops meanwhile) is left out.
        """
        futures = []
        for ref in self.stream_refs():
            try:
                futures.append(ActorHandle[LiveStream](ref).ask(LiveStream.stats))
            except pykka.ActorDeadError:
                continue
        deadline = time.monotonic() + timeout
        stats = []
        for future in futures:
            try:
                stats.append(future.get(timeout=max(0.0, deadline - time.monotonic())))
            except Exception:
                continue
        return stats

    # --- Generated streams --------------------------------------------------------------------

    def add_source(
        self,
        app: str,
        key: str,
        source: StreamSource,
        *,
        on_demand: bool = False,
        timeout: float = 5.0,
    ) -> None:
        """Stream what ``source`` produces to the players of ``app/key``.

        The source is ticked on a thread of its own at its frame rate, from now on, or only
        while somebody plays the key if ``on_demand`` (see
        :mod:`rtmp_actors.relay.generated`). An RTMP publisher to the key is refused.

        Raises:
            SourceError: If the key is already published (or has a source), or the relay
                does not answer within ``timeout``.
        """
        with self._sources_lock:
            current = self._sources.get((app, key))
            if current is not None and current.is_alive():
                msg = f"{app}/{key} already has a source"
                raise SourceError(msg)
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            route: ActorHandle[PublishRoute] = self.cluster or self.registry
            ref = GeneratedStream.start(app, key, source, route, on_demand=on_demand, ready=ready)
            self._sources[(app, key)] = ref
        try:
            ready.result(timeout=timeout)
        except TimeoutError:
            ref.stop(block=False)
            msg = f"{app}/{key}: the relay did not accept the source within {timeout:g} s"
            raise SourceError(msg) from None
        except SourceError:
            with self._sources_lock:
                if self._sources.get((app, key)) is ref:
                    del self._sources[(app, key)]
            raise

    def remove_source(self, app: str, key: str, timeout: float = 10.0) -> bool:
        """Stop the source of ``app/key``; its players are told the stream ended.

        Returns:
            False if the key had no running source.
        """
        with self._sources_lock:
            ref = self._sources.pop((app, key), None)
        if ref is None:
            return False
        try:
            ref.stop(timeout=timeout)
        except pykka.ActorDeadError:
            return False  # it ended already (its source failed)
        return True

    def source_stats(self, app: str, key: str, timeout: float = 5.0) -> SourceStats | None:
        """What the source of ``app/key`` has done so far; None without a running source."""
        with self._sources_lock:
            ref = self._sources.get((app, key))
        if ref is None:
            return None
        try:
            return ActorHandle[GeneratedStream](ref).ask(GeneratedStream.stats).get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None

    def _stop_sources(self, timeout: float) -> None:
        with self._sources_lock:
            refs = list(self._sources.values())
            self._sources.clear()
        for ref in refs:
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                ref.stop(timeout=timeout)

    def stream_stats_of(self, app: str, key: str, timeout: float = 5.0) -> StreamStats | None:
        """A snapshot of one live stream (from outside the actor system); None if none runs.

        None too if it does not answer within ``timeout``.
        """
        entry = self._table.get((app, key))
        if entry is None:
            return None
        try:
            return entry.handle.ask(LiveStream.stats).get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session politely, then stop the streams and the I/O loop."""
        self._stop_sources(timeout)
        if self._http is not None:
            self._http.stop()
            self._http = None
        tree, self._tree = self._tree, None
        if tree is None:
            return
        self._server.stop_timeout = timeout
        try:
            tree.stop(timeout=timeout + 50)
        except pykka.Timeout:
            logger.warning("the relay did not stop within %.0f s", timeout + 50)
        if self._hls_temporary and self._hls_root is not None:
            shutil.rmtree(self._hls_root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
