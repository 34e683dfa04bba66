"""Decoding what a connection wrote, for tests that look at raw output."""

from __future__ import annotations

from rtmp_actors.protocol.chunk_decoder import ChunkDecoder
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.messages import RawMessage


def decoder_at(chunk_size: int) -> ChunkDecoder:
    """A decoder that has seen the Set Chunk Size a connection announces before its media."""
    decoder = ChunkDecoder()
    decoder.receive_data(ChunkEncoder().encode(RawMessage(1, 0, 0, chunk_size.to_bytes(4), 2)))
    return decoder
