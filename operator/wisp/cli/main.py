"""Entry point of the ``wisp`` command; subcommands are added by their modules."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from wisp.cli.commands import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
