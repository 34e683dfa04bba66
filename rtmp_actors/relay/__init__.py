"""The live relay: a stream registry, live streams with a GOP cache, and the relay server."""
