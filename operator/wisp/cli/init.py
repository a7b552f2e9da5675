"""``wisp init NAME --runtime python|node|java``: a function folder from a template.

Templates live in ``wisp/templates/<runtime>/`` (handler, unit test, ``function.yaml``,
README; a ``.tmpl`` suffix is dropped); ``{{name}}`` in any file is replaced with the function's name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wisp.api.function import NAME_RE
from wisp.cli.errors import CliError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RUNTIMES = {"python": "python3.12", "node": "nodejs20", "java": "java17"}
NEXT_STEPS = {
    "python": "python -m pytest",
    "node": "node --test",
    "java": "mvn package",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function's name (a DNS label: lowercase, digits, '-')")
    parser.add_argument(
        "--runtime", "-r", choices=sorted(RUNTIMES), default="python", help="language of the handler (python)"
    )
    parser.add_argument("--dir", default=".", help="where to create the folder NAME (.)")


def render(template: Path, target: Path, name: str) -> list[Path]:
    """Copies ``template`` into ``target`` with ``{{name}}`` filled in; returns the files written."""
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(template.iterdir(), key=lambda e: e.name):
        if entry.name in ("__pycache__",) or entry.name.endswith(".pyc"):
            continue
        # Python templates end in .tmpl so that type checkers of wisp itself skip them.
        destination = target / entry.name.removesuffix(".tmpl")
        if entry.is_dir():
            written += render(entry, destination, name)
            continue
        data = entry.read_bytes()
        try:
            destination.write_text(data.decode("utf-8").replace("{{name}}", name), encoding="utf-8")
        except UnicodeDecodeError:
            destination.write_bytes(data)
        written.append(destination)
    return written


def run(args: argparse.Namespace) -> int:
    name = args.name
    if not NAME_RE.match(name) or len(name) > 63:
        raise CliError(f"{name!r} is not a valid function name: use lowercase letters, digits and '-'")
    target = Path(args.dir) / name
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} already exists and is not empty: pick another name or --dir")
    template = TEMPLATES / args.runtime
    files = render(template, target, name)
    print(f"created {target}/ ({args.runtime}, {RUNTIMES[args.runtime]}):")
    for path in files:
        print(f"  {path.relative_to(target)}")
    print(
        f"next: cd {target} && {NEXT_STEPS[args.runtime]}   then: wisp dev {target.parent}   "
        f"or: wisp deploy {target}"
    )
    return 0
