#!/usr/bin/env python3
"""Copy the CRDs from their one source, ``crds/``, into the Helm chart's ``crds/`` directory.

``crds/*.yaml`` is the source; ``deploy/helm/wisp/crds/`` is a generated copy that Helm installs
before the chart's templates. Run without arguments to refresh the copy; with ``--check`` (in
``make lint``) to fail, listing the differences, when the copy has drifted from the source.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "crds"
CHART_CRDS = ROOT / "deploy" / "helm" / "wisp" / "crds"


@dataclass(frozen=True)
class Drift:
    """One file whose chart copy differs from the source (or exists on one side only)."""

    name: str
    reason: str
    diff: str = ""


def find_drift(source: Path, target: Path) -> list[Drift]:
    """Every difference between the source CRDs and the chart's copy."""
    wanted = {p.name: p.read_text() for p in sorted(source.glob("*.yaml"))}
    present = {p.name: p.read_text() for p in sorted(target.glob("*.yaml"))} if target.is_dir() else {}
    drift: list[Drift] = []
    for name, text in wanted.items():
        if name not in present:
            drift.append(Drift(name, "missing from the chart"))
        elif present[name] != text:
            diff = "".join(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    present[name].splitlines(keepends=True),
                    fromfile=f"crds/{name}",
                    tofile=f"chart/crds/{name}",
                )
            )
            drift.append(Drift(name, "differs from crds/", diff))
    drift.extend(Drift(name, "not in crds/ (stale)") for name in present if name not in wanted)
    return drift


def sync(source: Path, target: Path) -> list[str]:
    """Make the chart's copy equal to the source; returns the names written or removed."""
    target.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for item in find_drift(source, target):
        path = target / item.name
        if (source / item.name).exists():
            path.write_text((source / item.name).read_text())
        else:
            path.unlink()
        changed.append(item.name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the chart's copy drifted")
    parser.add_argument("--source", type=Path, default=SOURCE, help="directory of source CRDs")
    parser.add_argument("--target", type=Path, default=CHART_CRDS, help="the chart's crds/")
    args = parser.parse_args(argv)
    if not any(args.source.glob("*.yaml")):
        print(f"sync-crds: no CRDs in {args.source}", file=sys.stderr)
        return 2
    if args.check:
        drift = find_drift(args.source, args.target)
        for item in drift:
            print(f"sync-crds: {item.name}: {item.reason}", file=sys.stderr)
            if item.diff:
                print(item.diff, file=sys.stderr, end="")
        if drift:
            print("sync-crds: run tools/sync-crds.py to refresh the chart's CRDs", file=sys.stderr)
            return 1
        return 0
    for name in sync(args.source, args.target):
        print(f"sync-crds: updated {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
