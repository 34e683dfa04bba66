"""Run the command line with ``python -m rtmp_actors``."""

from rtmp_actors.cli import main

raise SystemExit(main())
