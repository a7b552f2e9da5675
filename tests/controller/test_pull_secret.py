"""The installation's package pull secret in function namespaces, as a table over the in-memory
Kubernetes port: the operator copies it where a Function needs it, refreshes a copy whose source
changed, leaves a namespace's own Secret of that name alone, and says a missing one in status
(PackageAccessDenied) without stopping the Deployment. The same against a real control plane is
in test_package_reconcile.py."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.controller.memory_kube import MemoryKube, Obj
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync
from wisp.resources.deployment import DeploymentSettings, PackageSettings
from wisp.resources.identity import make_default_service_account
from wisp.resources.pullsecret import make_pull_secret_copy

HOME = "wisp-system"  # the installation's namespace
NS = "team-a"
DIGEST = "sha256:" + "7a" * 32


def docker_config(password: str) -> str:
    auths = {"auths": {"reg.example.com": {"username": "ci", "password": password}}}
    return base64.b64encode(json.dumps(auths).encode()).decode()


def secret(namespace: str, password: str = "one", **extra: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": docker_config(password)},
        **extra,
    }


def function(namespace: str = NS, **archive: str) -> Obj:
    if "url" not in archive:
        archive = {"repository": "reg.example.com/fns", **archive}
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "hello", "namespace": namespace, "uid": "fn-uid", "generation": 1},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"archive": {"digest": DIGEST, **archive}},
        },
    }


def settings(namespace: str = HOME, name: str = "regcred") -> OperatorSettings:
    packages = PackageSettings(pull_secret=name, pull_secret_namespace=namespace)
    return OperatorSettings(deployment=DeploymentSettings(packages=packages))


@dataclass(frozen=True)
class Row:
    name: str
    objects: tuple[Obj, ...] = ()
    fn: Obj = field(default_factory=function)
    settings: OperatorSettings = field(default_factory=settings)
    want_secret_writes: list[str] = field(default_factory=list)  # verbs on Secret team-a/regcred
    want_password: str | None = None  # what the Secret in team-a holds afterwards
    want_deployed: tuple[str, str] = ("True", "Deployed")
    want_message: str = ""  # in the Deployed condition's message


ROWS = [
    Row("copied where it is missing", (secret(HOME),), want_secret_writes=["create"], want_password="one"),
    Row(
        "a current copy is left alone",
        (secret(HOME), make_pull_secret_copy(secret(HOME), NS)),
        want_password="one",
    ),
    Row(
        "a copy whose source changed is brought up to date",
        (secret(HOME, "two"), make_pull_secret_copy(secret(HOME), NS)),
        want_secret_writes=["apply"],
        want_password="two",
    ),
    Row(
        "the namespace's own Secret of that name is used, never overwritten",
        (secret(HOME, "two"), secret(NS, "own")),
        want_password="own",
    ),
    Row(
        "a missing source: PackageAccessDenied, naming the setting and the namespace",
        want_deployed=("False", "PackageAccessDenied"),
        want_message="functions.packages.pullSecret: Secret regcred not found in wisp-system",
    ),
    Row(
        "a source that is no dockerconfigjson Secret is refused",
        (secret(HOME, type="Opaque"),),
        want_deployed=("False", "PackageAccessDenied"),
        want_message="Secret wisp-system/regcred is not a kubernetes.io/dockerconfigjson Secret",
    ),
    Row("in the installation's namespace it is used as it is", (secret(HOME),), fn=function(HOME)),
    Row(
        "a Function's own pullSecret is not copied; a missing one is said",
        (secret(HOME),),
        fn=function(pullSecret="team-cred"),
        want_deployed=("False", "PackageAccessDenied"),
        want_message="spec.code.archive.pullSecret: Secret team-cred not found in team-a",
    ),
    Row("an HTTPS URL needs no credentials", (secret(HOME),), fn=function(url="https://x.io/a.zip")),
    Row(
        "without the installation's namespace, each namespace needs its own",
        (secret(HOME),),
        settings=settings(namespace=""),
        want_deployed=("False", "PackageAccessDenied"),
        want_message="functions.packages.pullSecret: Secret regcred not found in team-a",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_the_installations_pull_secret(row: Row) -> None:
    fn = copy.deepcopy(row.fn)
    namespace = fn["metadata"]["namespace"]
    kube = MemoryKube().add(make_default_service_account(namespace))
    for obj in row.objects:
        kube.add(obj)
    kube.add(fn)

    FunctionSync(kube, row.settings).sync_function(copy.deepcopy(fn))

    writes = [verb for verb, kind, name in kube.writes() if kind == "Secret"]
    assert writes == row.want_secret_writes
    assert kube.get("Deployment", namespace, "hello") is not None  # never held back
    (status,) = kube.statuses()
    deployed = next(c for c in status["conditions"] if c["type"] == "Deployed")
    assert (deployed["status"], deployed["reason"]) == row.want_deployed
    assert row.want_message in deployed["message"]
    if row.want_password is not None:
        copied = kube.get("Secret", NS, "regcred")
        assert copied is not None
        assert copied["data"] == {".dockerconfigjson": docker_config(row.want_password)}
    # Credentials never reach status or Events.
    assert docker_config("one") not in json.dumps([status, kube.events()])


def test_the_copy_is_labelled_and_names_its_source() -> None:
    made = make_pull_secret_copy(secret(HOME), NS)
    assert made["metadata"]["namespace"] == NS and made["type"] == "kubernetes.io/dockerconfigjson"
    assert made["metadata"]["labels"]["wisp.dev/pull-secret-copy"] == "true"
    assert made["metadata"]["annotations"]["wisp.dev/copied-from"] == "wisp-system/regcred"
    assert list(made["data"]) == [".dockerconfigjson"]
