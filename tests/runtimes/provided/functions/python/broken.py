"""Fails at import: awslambdaric reports it on /init/error."""

raise RuntimeError("no configuration")
