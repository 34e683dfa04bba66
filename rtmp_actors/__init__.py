"""rtmp_actors: RTMP server and client sessions on pykka actors, over a sans-I/O protocol core."""

from rtmp_actors.errors import (
    LimitExceededError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RtmpError,
)
from rtmp_actors.limits import Limits

__version__ = "0.1.0.dev0"

__all__ = [
    "LimitExceededError",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RtmpError",
    "__version__",
]
