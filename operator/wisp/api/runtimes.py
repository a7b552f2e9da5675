"""wisp's runtimes: the one table every version is written in, and the lifecycle rules.

Each member of ``Runtime`` is a row: its identifier (``spec.runtime``), language, language
version (also the runtime image's tag, ``{version}`` in the chart's ``runtimeImages``
templates), the upstream end-of-life date and wisp's two dates, as in Lambda's runtime policy:

* after **deprecation**, new Functions with the runtime are refused (and an existing Function
  cannot be switched to it); existing ones keep running and can still be updated;
* after **block update**, edits of a Function's spec on the runtime are refused too (a change of
  ``spec.runtime`` to a supported runtime is always accepted, as is deletion).

Everything else reads this table: the CRD's enum (checked by ``tests/api/test_runtimes.py``),
the admission policy the chart ships (``tools/gen-runtime-policy.py``), the operator's image
choice and its ``RuntimeDeprecated`` condition, ``wisp dev``, ``wisp init`` and the console's
runtime picker. Decisions take ``today`` as an argument; nothing here reads the clock.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

# A runtime is "deprecated soon" (warned about on apply, in status, describe and the console)
# this long before its deprecation date.
WARNING_WINDOW = datetime.timedelta(days=180)


def _date(text: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None


@dataclass(frozen=True)
class _Row:
    language: str  # python, node, java, provided or custom
    version: str  # the language version and the runtime image's tag ("" for provided, custom)
    upstream_eol: datetime.date | None  # the language's own end of life
    deprecation: datetime.date | None  # wisp refuses new Functions from this day
    block_update: datetime.date | None  # wisp refuses spec edits from this day
    successor: str | None  # the identifier to move to


_ROWS: dict[str, _Row] = {}


class Runtime(enum.Enum):
    """A Function's ``spec.runtime``: one row of the runtime table per member."""

    _value_: str

    def __new__(cls, identifier: str, *row: str | None) -> Runtime:
        # row: language, version, upstream EOL, deprecation, block update, successor.
        language, version, eol, deprecation, block_update, successor = (*row, None, None, None, None)[:6]
        dates = _date(eol), _date(deprecation), _date(block_update)
        _ROWS[identifier] = _Row(language or identifier, version or "", *dates, successor)
        member = object.__new__(cls)
        member._value_ = identifier
        return member

    # identifier, language, version, upstream EOL, deprecation, block update, successor.
    # wisp's dates follow Lambda's for the same language version (Lambda's "block function
    # create" is wisp's deprecation); docs/runtimes.md#runtime-lifecycle says where each differs.
    # Java's upstream end of life is Amazon Corretto's (Lambda's JDK) announced end of support.
    PYTHON311 = ("python3.11", "python", "3.11", "2027-10-31", "2027-06-30", "2027-08-31", "python3.14")
    PYTHON312 = ("python3.12", "python", "3.12", "2028-10-31", "2028-10-31", "2029-01-10", "python3.14")
    PYTHON313 = ("python3.13", "python", "3.13", "2029-10-31", "2029-06-30", "2029-08-31", "python3.14")
    PYTHON314 = ("python3.14", "python", "3.14", "2030-10-31", "2029-06-30", "2029-08-31")
    NODEJS20 = ("nodejs20", "node", "20", "2026-04-30", "2026-04-30", "2027-03-01", "nodejs24")
    NODEJS22 = ("nodejs22", "node", "22", "2027-04-30", "2027-04-30", "2027-07-01", "nodejs24")
    NODEJS24 = ("nodejs24", "node", "24", "2028-04-30", "2028-04-30", "2028-07-01")
    JAVA17 = ("java17", "java", "17", "2029-10-31", "2029-06-30", "2029-08-31", "java25")
    JAVA21 = ("java21", "java", "21", "2030-10-31", "2029-06-30", "2029-08-31", "java25")
    JAVA25 = ("java25", "java", "25", "2032-10-31", "2029-06-30", "2029-08-31")
    PROVIDED = ("provided", "provided", "")  # Lambda's Runtime API for a bootstrap the function brings
    CUSTOM = ("custom", "custom", "")  # any image serving the runtime contract

    @property
    def language(self) -> str:
        """python, node, java, provided or custom."""
        return _ROWS[self.value].language

    @property
    def version(self) -> str:
        """The language version, which is also the runtime image's tag ("" when unversioned)."""
        return _ROWS[self.value].version

    @property
    def upstream_eol(self) -> datetime.date | None:
        return _ROWS[self.value].upstream_eol

    @property
    def deprecation(self) -> datetime.date | None:
        return _ROWS[self.value].deprecation

    @property
    def block_update(self) -> datetime.date | None:
        return _ROWS[self.value].block_update

    @property
    def successor(self) -> str | None:
        return _ROWS[self.value].successor

    @property
    def source_suffix(self) -> str:
        return {"python": ".py", "node": ".js", "java": ".java", "provided": "", "custom": ""}[self.language]

    @property
    def versioned(self) -> bool:
        """Whether this is a language version (with an image per version and dates)."""
        return bool(self.version)

    @property
    def replacement(self) -> Runtime | None:
        return Runtime(self.successor) if self.successor else None

    def phase(self, today: datetime.date) -> Phase:
        return lifecycle_phase(self, today)


class Phase(enum.Enum):
    """Where a runtime stands on a given day."""

    SUPPORTED = "Supported"
    DEPRECATION_SCHEDULED = "DeprecationScheduled"  # within WARNING_WINDOW of its deprecation
    DEPRECATED = "Deprecated"  # new Functions refused
    UPDATES_BLOCKED = "UpdatesBlocked"  # spec edits refused too


class Operation(enum.Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"


def lifecycle_phase(runtime: Runtime, today: datetime.date) -> Phase:
    if runtime.block_update is not None and today >= runtime.block_update:
        return Phase.UPDATES_BLOCKED
    if runtime.deprecation is not None and today >= runtime.deprecation:
        return Phase.DEPRECATED
    if runtime.deprecation is not None and today >= runtime.deprecation - WARNING_WINDOW:
        return Phase.DEPRECATION_SCHEDULED
    return Phase.SUPPORTED


def _instead(runtime: Runtime) -> str:
    return f"; use {runtime.successor} instead" if runtime.successor else ""


def refusal_message(runtime: Runtime, operation: Operation) -> str:
    """Why an apply of a Function on ``runtime`` is refused (the admission policy's words too)."""
    if operation is Operation.CREATE:
        return (
            f"runtime {runtime.value} was deprecated on {runtime.deprecation}: new Functions "
            f"cannot use it{_instead(runtime)}"
        )
    return (
        f"runtime {runtime.value} has been blocked for updates since {runtime.block_update}: "
        f"change spec.runtime{' to ' + runtime.successor if runtime.successor else ''} to edit this Function"
    )


def warning_message(runtime: Runtime) -> str:
    """The warning shown on apply, in status, ``wisp describe`` and the console."""
    eol = f" (upstream end of life {runtime.upstream_eol})" if runtime.upstream_eol else ""
    return (
        f"runtime {runtime.value}{eol} is deprecated from {runtime.deprecation} (new Functions refused) "
        f"and blocked for updates from {runtime.block_update}{_instead(runtime)}"
    )


def deprecation_warning(runtime_text: str, today: datetime.date) -> str | None:
    """The warning for a Function whose ``spec.runtime`` is ``runtime_text``, if it has one on
    ``today`` (``wisp describe``, the console)."""
    try:
        runtime = Runtime(runtime_text)
    except ValueError:
        return None
    return None if lifecycle_phase(runtime, today) is Phase.SUPPORTED else warning_message(runtime)


@dataclass(frozen=True)
class Verdict:
    """What the lifecycle rules say about one apply: a refusal, or warnings (maybe none)."""

    refusal: str | None = None
    warnings: tuple[str, ...] = ()


def check_apply(
    runtime: Runtime,
    operation: Operation,
    today: datetime.date,
    *,
    previous_runtime: Runtime | None = None,
    spec_changed: bool = True,
) -> Verdict:
    """The lifecycle rules for creating or updating a Function on ``runtime`` on ``today``.

    An update that changes the runtime to ``runtime`` counts as a create of it; an update that
    leaves the spec alone (metadata, finalizers) is always accepted.
    """
    phase = lifecycle_phase(runtime, today)
    switching = previous_runtime is not None and previous_runtime is not runtime
    creating = operation is Operation.CREATE or switching
    if creating and phase in (Phase.DEPRECATED, Phase.UPDATES_BLOCKED):
        return Verdict(refusal=refusal_message(runtime, Operation.CREATE))
    if operation is Operation.UPDATE and spec_changed and phase is Phase.UPDATES_BLOCKED:
        return Verdict(refusal=refusal_message(runtime, Operation.UPDATE))
    if phase is Phase.SUPPORTED:
        return Verdict()
    return Verdict(warnings=(warning_message(runtime),))


def supported(today: datetime.date) -> list[Runtime]:
    """Runtimes a new Function may use on ``today``."""
    return [r for r in Runtime if lifecycle_phase(r, today) in (Phase.SUPPORTED, Phase.DEPRECATION_SCHEDULED)]


def newest(language: str, today: datetime.date) -> Runtime:
    """The newest version of ``language`` a new Function may use (``wisp init``'s default)."""
    candidates = [r for r in supported(today) if r.language == language and r.versioned]
    if not candidates:
        raise LookupError(f"no supported {language} runtime")
    return max(candidates, key=lambda r: tuple(int(part) for part in r.version.split(".")))


def image_tags(language: str) -> list[str]:
    """Every image tag (language version) of ``language``, oldest first: what ``make images`` builds."""
    return [r.version for r in Runtime if r.language == language and r.versioned]
