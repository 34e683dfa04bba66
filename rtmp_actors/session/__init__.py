"""Sans-I/O RTMP session logic: server and client state machines.

A session takes decoded messages (and the time) in, and gives outbound messages and events
out. It opens no socket, starts no thread and reads no clock; the actors in
:mod:`rtmp_actors.actors` drive it.
"""
