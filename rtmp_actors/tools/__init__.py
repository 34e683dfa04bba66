"""Command line tools (each module adds one ``rtmp-actors`` subcommand)."""
