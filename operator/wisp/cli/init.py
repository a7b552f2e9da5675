"""``wisp init NAME --runtime python|node|java|IDENTIFIER``: a function folder from a template.

Templates live in ``wisp/templates/<language>/`` (handler, unit test, ``function.yaml``,
README; a ``.tmpl`` suffix is dropped); in any file ``{{name}}`` becomes the function's name,
``{{runtime}}`` the runtime and ``{{version}}`` its language version. The runtime is the newest
version of the language a new Function may use today (from the runtime table,
``wisp.api.runtimes``), or the identifier given (``--runtime IDENTIFIER``).
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from wisp.api.function import NAME_RE
from wisp.api.runtimes import Operation, Runtime, check_apply, newest
from wisp.cli.errors import CliError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("python", "node", "java")
NEXT_STEPS = {
    "python": "python -m pytest",
    "node": "node --test",
    "java": "mvn package",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function's name (a DNS label: lowercase, digits, '-')")
    parser.add_argument(
        "--runtime",
        "-r",
        default="python",
        help="python, node or java (its newest runtime), or a runtime such as "
        f"{newest('node', datetime.date.today()).value} (default: python)",
    )
    parser.add_argument("--dir", default=".", help="where to create the folder NAME (.)")


def choose_runtime(choice: str, today: datetime.date) -> Runtime:
    """The runtime ``--runtime`` names: a language's newest, or an identifier a new Function may use."""
    if choice in LANGUAGES:
        return newest(choice, today)
    try:
        runtime = Runtime(choice)
    except ValueError:
        known = ", ".join(LANGUAGES)
        raise CliError(f"unknown runtime {choice!r}: one of {known} or a runtime identifier") from None
    if runtime.language not in LANGUAGES:
        raise CliError(f"wisp init has no template for {choice}: use {', '.join(LANGUAGES)}")
    refusal = check_apply(runtime, Operation.CREATE, today).refusal
    if refusal is not None:
        raise CliError(refusal)
    return runtime


def render(template: Path, target: Path, name: str, runtime: Runtime | None = None) -> list[Path]:
    """Copies ``template`` into ``target`` with ``{{name}}``, ``{{runtime}}`` and ``{{version}}``
    (the runtime's language version) filled in; returns the files written."""
    fills = {"{{name}}": name}
    if runtime is not None:
        fills |= {"{{runtime}}": runtime.value, "{{version}}": runtime.version}
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(template.iterdir(), key=lambda e: e.name):
        if entry.name in ("__pycache__",) or entry.name.endswith(".pyc"):
            continue
        # Python templates end in .tmpl so that type checkers of wisp itself skip them.
        destination = target / entry.name.removesuffix(".tmpl")
        if entry.is_dir():
            written += render(entry, destination, name, runtime)
            continue
        data = entry.read_bytes()
        try:
            text = data.decode("utf-8")
            for placeholder, value in fills.items():
                text = text.replace(placeholder, value)
            destination.write_text(text, encoding="utf-8")
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
    runtime = choose_runtime(args.runtime, datetime.date.today())
    files = render(TEMPLATES / runtime.language, target, name, runtime)
    print(f"created {target}/ ({runtime.language}, {runtime.value}):")
    for path in files:
        print(f"  {path.relative_to(target)}")
    print(
        f"next: cd {target} && {NEXT_STEPS[runtime.language]}   then: wisp dev {target.parent}   "
        f"or: wisp deploy {target}"
    )
    return 0
