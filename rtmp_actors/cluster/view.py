"""What a node knows of its cluster, as the stats endpoints show it.

Its own module so that the stats and metrics code reads it without importing the node
(which imports the relay's streams, which the stats describe).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmp_actors.cluster.directory import NodeInfo

__all__ = ["ClusterView"]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a node knows of its cluster, for the stats endpoints.

    Attributes:
        node_id: This node's id.
        advertise: This node's address.
        directory: The directory's name (its URL without a password).
        reachable: Whether the directory answered the last call.
        nodes: The live nodes (this one included), by id.
        origins: Where each stream published or pulled here is published.
    """

    node_id: str
    advertise: str
    directory: str
    reachable: bool
    nodes: tuple[NodeInfo, ...]
    origins: dict[tuple[str, str], str]  # (app, key) -> the origin node's address
