"""FLV files and audio/video tag headers, legacy and Enhanced RTMP (sans-I/O)."""
