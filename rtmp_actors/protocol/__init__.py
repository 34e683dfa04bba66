"""The sans-I/O RTMP protocol core: handshake, chunk stream codec, messages, AMF, commands.

Nothing in this package opens a socket, starts a thread or reads a clock: bytes and times go
in, bytes, messages and events come out.
"""
