"""Exposing the relay's measures: a snapshot for the stats endpoints, and Prometheus text.

Theory of operation:

* Each live stream measures its rate with a :class:`~rtmp_actors.relay.rate_meter.RateMeter`.
* :class:`RelaySnapshot` is everything the stats endpoints show, taken at one moment from
  outside the actor system; :func:`render_prometheus` writes it in the Prometheus text
  exposition format (version 0.0.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtmp_actors.cluster.view import ClusterView
    from rtmp_actors.relay.stream import StreamStats

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "RelaySnapshot",
    "escape_label_value",
    "render_prometheus",
]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class RelaySnapshot:
    """The relay at one moment, for the stats endpoints.

    Attributes:
        uptime: Seconds since the relay started.
        connections: Connections open now.
        connections_accepted: Connections accepted since the relay started.
        bytes_in: Bytes received over every connection, open or closed.
        bytes_out: Bytes sent over every connection, open or closed.
        streams: Every live stream, sorted by (app, key).
        monotonic: ``time.monotonic()`` when the snapshot was taken.
        wall: ``time.time()`` at the same moment (to date ``publishing_since``).
        cluster: The node's view of its cluster (None outside a cluster, or if the node
            did not answer in time).
    """

    uptime: float
    connections: int
    connections_accepted: int
    bytes_in: int
    bytes_out: int
    streams: tuple[StreamStats, ...]
    monotonic: float
    wall: float
    cluster: ClusterView | None = None


def escape_label_value(value: str) -> str:
    r"""Escape a label value for the text format: ``\`` , ``"`` and newlines."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


Sample = tuple[Mapping[str, str], float]


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{key}="{escape_label_value(v)}"' for key, v in labels.items())
        series = f"{name}{{{text}}}" if labels else name
        lines.append(f"{series} {_format_value(value)}")
    return lines


def render_prometheus(
    snapshot: RelaySnapshot, *, http_flv_players: int | None = None, vod_players: int | None = None
) -> str:
    """The snapshot in the Prometheus text exposition format (one family per metric).

    ``http_flv_players`` and ``vod_players``, when given, are the HTTP-FLV clients and the
    file players served now (they are not live streams' players over RTMP).
    """
    streams = snapshot.streams

    def per_stream(value: Callable[[StreamStats], float]) -> list[Sample]:
        return [({"app": s.app, "key": s.key}, value(s)) for s in streams]

    families: list[tuple[str, str, str, list[Sample]]] = [
        ("rtmp_actors_uptime_seconds", "gauge", "Seconds since the relay started.",
         [({}, snapshot.uptime)]),
        ("rtmp_actors_connections", "gauge", "Connections open now.",
         [({}, snapshot.connections)]),
        ("rtmp_actors_connections_accepted_total", "counter", "Connections accepted.",
         [({}, snapshot.connections_accepted)]),
        ("rtmp_actors_bytes_in_total", "counter", "Bytes received over every connection.",
         [({}, snapshot.bytes_in)]),
        ("rtmp_actors_bytes_out_total", "counter", "Bytes sent over every connection.",
         [({}, snapshot.bytes_out)]),
        ("rtmp_actors_streams", "gauge", "Live streams (with a publisher or players).",
         [({}, len(streams))]),
        ("rtmp_actors_stream_publishing", "gauge", "1 while the stream has a publisher.",
         per_stream(lambda s: int(s.publisher is not None))),
        ("rtmp_actors_stream_players", "gauge", "Players of the stream.",
         per_stream(lambda s: s.players)),
        ("rtmp_actors_stream_bytes_in_total", "counter",
         "Audio and video payload bytes the stream received from its publishers.",
         per_stream(lambda s: s.bytes_in)),
        ("rtmp_actors_stream_messages_in_total", "counter",
         "Audio and video messages the stream received from its publishers.",
         per_stream(lambda s: s.messages_in)),
        ("rtmp_actors_stream_bitrate_kbps", "gauge",
         "Audio and video payload rate over the last few seconds, in kilobits per second.",
         per_stream(lambda s: s.bitrate_kbps)),
    ]  # fmt: skip
    if http_flv_players is not None:
        families.append(("rtmp_actors_http_flv_players", "gauge", "HTTP-FLV clients served now.",
                         [({}, http_flv_players)]))  # fmt: skip
    if vod_players is not None:
        families.append(("rtmp_actors_vod_players", "gauge", "Files played on demand now.",
                         [({}, vod_players)]))  # fmt: skip
    cluster = snapshot.cluster
    if cluster is not None:
        families += [
            ("rtmp_actors_cluster_nodes", "gauge", "Live nodes in the cluster, this one included.",
             [({}, len(cluster.nodes))]),
            ("rtmp_actors_cluster_directory_up", "gauge",
             "1 while the cluster directory answers.", [({}, int(cluster.reachable))]),
            ("rtmp_actors_cluster_node_players", "gauge", "Players of each node, as registered.",
             [({"node": n.node_id}, n.players) for n in cluster.nodes]),
        ]  # fmt: skip
    lines: list[str] = []
    for name, kind, help_text, samples in families:
        lines.extend(_family(name, kind, help_text, samples))
    return "\n".join(lines) + "\n"
