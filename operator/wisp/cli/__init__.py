"""The ``wisp`` command."""
