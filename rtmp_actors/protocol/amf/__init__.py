"""AMF0 and AMF3 encoding and decoding.

* :mod:`~rtmp_actors.protocol.amf.values`: the Python values AMF maps to (:class:`EcmaArray`,
  :class:`TypedObject`, :data:`UNDEFINED`, ...).
* :mod:`~rtmp_actors.protocol.amf.decoder`: :func:`decode_values`, hardened against hostile
  input; the only module that imports ``pyamf``. The checks that bound a payload's cost are in
  :mod:`~rtmp_actors.protocol.amf._guard`.
* :mod:`~rtmp_actors.protocol.amf.encoder`: :func:`encode_values`, which writes no references.

Decoding raises only :class:`~rtmp_actors.errors.RemoteProtocolError` (the bytes broke AMF);
encoding raises :class:`~rtmp_actors.errors.LocalProtocolError` for a value AMF cannot carry.
"""

from rtmp_actors.protocol.amf._guard import EXPANSION_FACTOR
from rtmp_actors.protocol.amf.decoder import decode_values
from rtmp_actors.protocol.amf.encoder import encode_values
from rtmp_actors.protocol.amf.values import UNDEFINED, AmfValue, EcmaArray, TypedObject

__all__ = [
    "EXPANSION_FACTOR",
    "UNDEFINED",
    "AmfValue",
    "EcmaArray",
    "TypedObject",
    "decode_values",
    "encode_values",
]
