"""``python -m wisp_runtime``: the runtime server of a Python function pod."""

from wisp_runtime.main import main

raise SystemExit(main())
