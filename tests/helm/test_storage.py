"""The bundled Redis on a cluster without a default StorageClass, against the real API server.

Its PersistentVolumeClaim would stay Pending for ever there (nothing provisions it) and
``helm install --wait`` would time out with no hint. The chart asks the cluster at install time
(a server-side dry run does the same lookups as an install): with no default StorageClass it
runs Redis on an emptyDir and the notes say why and how to keep the data; with one, the claim.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import Kubectl
from tests.helm.chart import CHART, Helm, of_kind, one, parse

pytestmark = pytest.mark.cluster

DEFAULT_CLASS = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {name}
  annotations: {{storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: example.com/none
"""


def _dry_run_install(helm: Helm, kubeconfig: Path, namespace: str) -> tuple[list[dict[str, Any]], str]:
    proc = helm.bound(kubeconfig).run(
        "install", "wisp", str(CHART), "--namespace", namespace, "--dry-run=server", "--output", "json"
    )
    release = json.loads(proc.stdout)
    return parse(release["manifest"]), str(release["info"].get("notes", ""))


def _redis_volume(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (volume,) = one(objects, "Deployment", "-redis")["spec"]["template"]["spec"]["volumes"]
    return dict(volume)


def test_without_a_default_storage_class_redis_runs_on_an_empty_dir_and_the_notes_say_so(
    helm: Helm, kubeconfig: Path, kubectl: Kubectl, namespace: str
) -> None:
    objects, notes = _dry_run_install(helm, kubeconfig, namespace)
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert _redis_volume(objects) == {"name": "data", "emptyDir": {}}
    assert "no default StorageClass" in notes and "redis.persistence.storageClass" in notes

    name = f"default-{namespace}"
    kubectl("apply", "-f", "-", input=DEFAULT_CLASS.format(name=name))
    try:
        objects, notes = _dry_run_install(helm, kubeconfig, namespace)
    finally:
        kubectl("delete", "storageclass", name, check=False)
    (claim,) = of_kind(objects, "PersistentVolumeClaim")
    assert _redis_volume(objects)["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert "no default StorageClass" not in notes
