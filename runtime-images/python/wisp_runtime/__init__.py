"""wisp's Python runtime server (see docs/runtime-contract.md)."""
