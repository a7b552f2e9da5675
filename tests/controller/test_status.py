"""The Function status as a pure function of its Deployment and pods."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from wisp.controller.status import Observed, PodTrouble, function_status, pod_trouble, status_changed

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(minutes=5)


def deployment(
    desired: int,
    ready: int = 0,
    replicas: int | None = None,
    generation: int = 1,
    observed: int = 1,
    stalled: bool = False,
) -> dict[str, Any]:
    conditions = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}] if stalled else []
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": desired},
        "status": {
            "replicas": desired if replicas is None else replicas,
            "readyReplicas": ready,
            "observedGeneration": observed,
            "conditions": conditions,
        },
    }


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


@pytest.mark.parametrize(
    ("observed", "ready", "deployed"),
    [
        (Observed(1, deployment(0)), ("True", "ScaledToZero"), ("True", "Deployed")),
        (Observed(1, deployment(2, ready=1)), ("True", "Ready"), ("True", "Deployed")),
        (Observed(1, deployment(1)), ("False", "Starting"), ("True", "Deployed")),
        (Observed(1, deployment(1, generation=2, observed=1)), ("False", "Rolling"), ("True", "Deployed")),
        (
            Observed(1, deployment(1), pod_trouble=PodTrouble("ImagePullBackOff", "no image")),
            ("False", "ImagePullBackOff"),
            ("True", "Deployed"),
        ),
        (
            Observed(1, deployment(2, ready=1), pod_trouble=PodTrouble("CrashLoopBackOff", "x")),
            ("True", "Ready"),
            ("True", "Deployed"),
        ),
        (Observed(1, None), ("False", "Pending"), ("False", "Pending")),
        (
            Observed(1, None, spec_error="spec.memory: too big"),
            ("False", "InvalidSpec"),
            ("False", "InvalidSpec"),
        ),
        (
            Observed(1, deployment(0), deploy_error=("ConfigMapNotFound", "m")),
            ("False", "ConfigMapNotFound"),
            ("False", "ConfigMapNotFound"),
        ),
        (
            Observed(1, deployment(1, stalled=True)),
            ("False", "ProgressDeadlineExceeded"),
            ("False", "ProgressDeadlineExceeded"),
        ),
    ],
)
def test_conditions(observed: Observed, ready: tuple[str, str], deployed: tuple[str, str]) -> None:
    status = function_status("f", "ns", observed, "http://gw/function/f.ns", None, NOW)
    assert conditions(status)["Ready"] == ready
    assert conditions(status)["Deployed"] == deployed


def test_counts_selector_url_and_scaled_to_zero() -> None:
    status = function_status("f", "ns", Observed(3, deployment(2, ready=1, replicas=2)), "u", None, NOW)
    assert (status["replicas"], status["readyReplicas"], status["observedGeneration"]) == (2, 1, 3)
    assert status["selector"] == "wisp.dev/function=f" and status["url"] == "u"
    assert conditions(status)["ScaledToZero"] == ("False", "Running")
    zero = function_status("f", "ns", Observed(3, deployment(0)), "u", None, NOW)
    assert conditions(zero)["ScaledToZero"] == ("True", "NoReplicas")


def test_transition_time_moves_only_with_status() -> None:
    first = function_status("f", "ns", Observed(1, deployment(1)), "u", None, NOW)
    same = function_status("f", "ns", Observed(1, deployment(1)), "u", first, LATER)
    flipped = function_status("f", "ns", Observed(1, deployment(1, ready=1)), "u", first, LATER)

    def when(status: dict[str, Any], kind: str) -> str:
        return next(c["lastTransitionTime"] for c in status["conditions"] if c["type"] == kind)

    assert when(same, "Ready") == when(first, "Ready")
    assert when(flipped, "Ready") != when(first, "Ready")
    assert not status_changed(first, same)
    assert status_changed(first, flipped)


@pytest.mark.parametrize(
    ("state", "trouble"),
    [
        ({"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}}, "ImagePullBackOff"),
        ({"waiting": {"reason": "CrashLoopBackOff"}}, "CrashLoopBackOff"),
        ({"waiting": {"reason": "ContainerCreating"}}, None),
        ({"running": {}}, None),
    ],
)
def test_pod_trouble(state: dict[str, Any], trouble: str | None) -> None:
    pod = {"status": {"containerStatuses": [{"name": "function", "state": state}]}}
    found = pod_trouble(pod)
    assert (found.reason if found else None) == trouble


CRASHED = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}


@pytest.mark.parametrize(
    ("last", "message"),
    [
        # The runtime's last words: why the handler did not load.
        (
            {"terminated": {"exitCode": 1, "reason": "Error", "message": "RuntimeError: broken at import\n"}},
            "RuntimeError: broken at import (container 'function' exited with code 1)",
        ),
        ({"terminated": {"exitCode": 3, "reason": "Error"}}, "container 'function' exited with code 3"),
        (
            {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            "container 'function' ran out of memory (OOMKilled, exit code 137)",
        ),
        # Not yet ended once: the kubelet's words are all there is.
        ({}, "back-off 10s restarting failed container"),
    ],
)
def test_a_crash_loop_says_how_the_container_last_ended(last: dict[str, Any], message: str) -> None:
    pod = {"status": {"containerStatuses": [{"name": "function", "state": CRASHED, "lastState": last}]}}
    assert pod_trouble(pod) == PodTrouble("CrashLoopBackOff", message)


@pytest.mark.parametrize(
    ("runtime", "day", "reason"),
    [
        ("nodejs24", NOW, None),
        ("custom", NOW, None),
        ("nodejs22", NOW, "DeprecationScheduled"),  # within 180 days of 2027-04-30
        ("nodejs20", NOW, "Deprecated"),
        ("nodejs20", datetime.datetime(2027, 3, 1, tzinfo=datetime.UTC), "UpdatesBlocked"),
    ],
)
def test_runtime_deprecated_condition_by_todays_date(
    runtime: str, day: datetime.datetime, reason: str | None
) -> None:
    status = function_status("f", "ns", Observed(1, deployment(1), runtime=runtime), "u", None, day)
    if reason is None:
        assert "RuntimeDeprecated" not in conditions(status)
        return
    assert conditions(status)["RuntimeDeprecated"] == ("True", reason)
    message = next(c["message"] for c in status["conditions"] if c["type"] == "RuntimeDeprecated")
    assert "nodejs24" in message  # the replacement is named


MISMATCH = "PackageDigestMismatch: spec.code.archive: the package from r/p hashes to sha256:b, not sha256:a"


@pytest.mark.parametrize(
    ("status", "trouble"),
    [
        # The first exit already says why, before the kubelet backs off.
        (
            {"state": {"terminated": {"exitCode": 1, "message": MISMATCH}}},
            PodTrouble("PackageDigestMismatch", MISMATCH.split(": ", 1)[1]),
        ),
        (
            {"state": CRASHED, "lastState": {"terminated": {"exitCode": 1, "message": MISMATCH}}},
            PodTrouble("PackageDigestMismatch", MISMATCH.split(": ", 1)[1]),
        ),
        # Ended without its own words (killed): how it ended.
        (
            {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
            PodTrouble(
                "PackageFetchFailed", "container 'fetch-code' ran out of memory (OOMKilled, exit code 137)"
            ),
        ),
        ({"state": {"running": {}}}, None),
        ({"state": {"terminated": {"exitCode": 0}}}, None),
    ],
)
def test_a_refused_package_is_the_pods_trouble(status: dict[str, Any], trouble: PodTrouble | None) -> None:
    pod = {
        "status": {
            "initContainerStatuses": [{"name": "fetch-code", **status}],
            "containerStatuses": [{"name": "function", "state": {"waiting": {"reason": "PodInitializing"}}}],
        }
    }
    assert pod_trouble(pod) == trouble
