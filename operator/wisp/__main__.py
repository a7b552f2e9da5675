"""``python -m wisp``: the same as the ``wisp`` command."""

from wisp.cli.main import main

raise SystemExit(main())
