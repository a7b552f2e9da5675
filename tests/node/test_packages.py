"""Code packages on the real node: ``wisp deploy --package`` zips a folder with a 50 MB vendored
file and nested packages, pushes it to a real OCI registry (CNCF distribution, on the node's IP as
a company's registry would be reachable from its pods), and the Function answers through the
gateway; a private registry's package runs with the Function's pull secret, or with the
installation's, which the operator copies into the Function's namespace; a package changed in the
registry after it was pushed is refused by the pods' init step, the Function's Ready condition
says so, and its handler never runs."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import wait_for
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp
from tests.node.node import NODE_IP
from tests.node.test_user_flows import wisp_cli
from tests.support.registry import Registry
from wisp.packages.push import package_folder, push_archive
from wisp.packages.registry import Credentials, Repository

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.registry, pytest.mark.timeout(2400)]

MB = 1024 * 1024
HANDLER = textwrap.dedent(
    """\
    import hashlib
    import os

    from vendor.deep.er import mod

    BLOB = os.path.join(os.path.dirname(__file__), "vendor", "blob.bin")


    def handler(event, context):
        with open(BLOB, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        return {"value": mod.VALUE, "bytes": os.path.getsize(BLOB), "sha256": digest, "marker": MARKER}
    """
)


def function_folder(root: Path, name: str, marker: str, size: int) -> Path:
    """A function folder as a user has it: function.yaml, the handler, vendored code and data."""
    (root / "vendor" / "deep" / "er").mkdir(parents=True)
    (root / "main.py").write_text(f"MARKER = {marker!r}\n" + HANDLER)
    (root / "vendor" / "__init__.py").write_text("")
    (root / "vendor" / "deep" / "__init__.py").write_text("")
    (root / "vendor" / "deep" / "er" / "__init__.py").write_text("")
    (root / "vendor" / "deep" / "er" / "mod.py").write_text("VALUE = 42\n")
    (root / "vendor" / "blob.bin").write_bytes(os.urandom(size))
    manifest = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "runtime": "python3.11",
            "handler": "main.handler",
            "memory": "256Mi",
            "timeout": "60s",
            "access": {"public": True},
            "scale": {"min": 0, "max": 1},
        },
    }
    (root / "function.yaml").write_text(yaml.safe_dump(manifest))
    return root


PRIVATE_USER = ("ci", "s3cret-on-the-node")


@pytest.fixture(scope="module")
def registries(wisp: Wisp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Registry]]:
    """Two registries on the node's IP, one open and one that takes only ``PRIVATE_USER``, and
    the chart told to speak plain HTTP to both."""
    public = Registry(tmp_path_factory.mktemp("node-registry"), host=NODE_IP).start()
    private = Registry(tmp_path_factory.mktemp("private-registry"), host=NODE_IP, user=PRIVATE_USER).start()
    wisp.configure(json_values={"functions.packages.plainHttp": [public.address, private.address]})
    yield public, private
    wisp.configure()
    private.stop()
    public.stop()


@pytest.fixture(scope="module")
def node_registry(registries: tuple[Registry, Registry]) -> Registry:
    return registries[0]


def deploy(wisp: Wisp, registry: Registry, folder: Path, *extra: str) -> Any:
    return wisp_cli(
        wisp,
        "deploy",
        str(folder),
        "--package",
        "--repository",
        registry.repository("team/functions"),
        "--plain-http",
        *extra,
        timeout=400,
    )


def test_a_50_mb_package_deploys_and_answers(wisp: Wisp, node_registry: Registry, tmp_path: Path) -> None:
    folder = function_folder(tmp_path / "big", "big-package", "first", 50 * MB)
    deployed = deploy(wisp, node_registry, folder, "--timeout", "300")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "pushed to" in deployed.stderr

    fn = json.loads(wisp.kubectl("get", "fn", "big-package", "-o", "json", namespace=FUNCTIONS).stdout)
    archive = fn["spec"]["code"]["archive"]
    assert archive["repository"] == node_registry.repository("team/functions")
    assert node_registry.blob_file(archive["digest"]).stat().st_size >= 50 * MB

    status, body = wisp.call("big-package", {})
    assert status == 200, body
    blob = (folder / "vendor" / "blob.bin").read_bytes()
    assert body["value"] == 42 and body["bytes"] == 50 * MB and body["marker"] == "first"
    assert body["sha256"] == hashlib.sha256(blob).hexdigest()


def test_a_package_changed_in_the_registry_is_refused_and_never_runs(
    wisp: Wisp, node_registry: Registry, tmp_path: Path
) -> None:
    folder = function_folder(tmp_path / "changed", "changed-package", "tampered", MB)
    deployed = deploy(wisp, node_registry, folder, "--no-wait")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    fn = json.loads(wisp.kubectl("get", "fn", "changed-package", "-o", "json", namespace=FUNCTIONS).stdout)
    digest = fn["spec"]["code"]["archive"]["digest"]
    blob = node_registry.blob_file(digest)
    data = bytearray(blob.read_bytes())
    data[200] ^= 0xFF
    blob.write_bytes(bytes(data))
    # A pod starts now (min 1), so the refusal shows without a caller waiting on it.
    wisp.kubectl(
        "patch",
        "fn",
        "changed-package",
        "--type=merge",
        "-p",
        '{"spec":{"scale":{"min":1}}}',
        namespace=FUNCTIONS,
    )

    def refused() -> dict[str, Any] | None:
        obj = json.loads(
            wisp.kubectl("get", "fn", "changed-package", "-o", "json", namespace=FUNCTIONS).stdout
        )
        for cond in (obj.get("status") or {}).get("conditions") or ():
            if cond["type"] == "Ready" and cond["reason"] == "PackageDigestMismatch":
                return dict(cond)
        return None

    cond = wait_for(refused, timeout=240, interval=2, what="Ready=False PackageDigestMismatch")
    assert cond["status"] == "False"
    assert digest in cond["message"] and "refused" in cond["message"]
    for pod in wisp.function_pods("changed-package"):
        statuses = pod["status"].get("containerStatuses") or []
        assert all("running" not in s["state"] and not s.get("started") for s in statuses), statuses
        assert all(s.get("restartCount", 0) == 0 and not s.get("lastState") for s in statuses), statuses
    described = wisp_cli(wisp, "describe", "changed-package")
    assert "PackageDigestMismatch" in described.stdout, described.stdout


def _private_package(
    wisp: Wisp, private: Registry, tmp_path: Path, marker: str, secret: str, namespace: str
) -> tuple[Path, dict[str, Any]]:
    """A ``<marker>-package`` Function's folder, its package pushed to the private registry, and
    a docker-registry Secret ``secret`` in ``namespace`` that can pull it: (folder, its ``code``)."""
    folder = function_folder(tmp_path / marker, f"{marker}-package", marker, MB)
    archive = package_folder(folder, tmp_path / f"{marker}.zip")
    repository = Repository.parse(private.repository("team/functions"), plain_http=True)
    code = push_archive(archive, repository, title=f"{marker}.zip", credentials=Credentials(*PRIVATE_USER))
    user, password = PRIVATE_USER
    wisp.kubectl(
        "create", "secret", "docker-registry", secret, f"--docker-server={private.address}",
        f"--docker-username={user}", f"--docker-password={password}", namespace=namespace,
    )  # fmt: skip
    return folder, code


def test_a_package_in_a_private_registry_runs_with_its_pull_secret_only(
    wisp: Wisp, registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    folder, code = _private_package(wisp, registries[1], tmp_path, "private", "regcred", FUNCTIONS)
    try:
        manifest = yaml.safe_load((folder / "function.yaml").read_text())
        for name, pull_secret in (("private-package", {"pullSecret": "regcred"}), ("no-credentials", {})):
            manifest["metadata"]["name"] = name
            manifest["spec"]["code"] = {"archive": {**code, **pull_secret}}
            wisp.apply(yaml.safe_dump(manifest))

        status, body = wisp.call("private-package", {})
        assert status == 200, body
        assert body["value"] == 42 and body["marker"] == "private"
        pod = wisp.function_pods("private-package")[0]["spec"]
        # The credentials are the init step's alone: the handler's container has no such volume.
        assert [m["name"] for m in pod["containers"][0]["volumeMounts"]].count("registry-auth") == 0

        # The same package without the Secret is refused by the registry, and says where credentials go.
        wisp.kubectl(
            "patch", "fn", "no-credentials", "--type=merge", "-p", '{"spec":{"scale":{"min":1}}}',
            namespace=FUNCTIONS,
        )  # fmt: skip

        def denied() -> dict[str, Any] | None:
            obj = json.loads(
                wisp.kubectl("get", "fn", "no-credentials", "-o", "json", namespace=FUNCTIONS).stdout
            )
            for cond in (obj.get("status") or {}).get("conditions") or ():
                if cond["type"] == "Ready" and cond["reason"] == "PackageAccessDenied":
                    return dict(cond)
            return None

        cond = wait_for(denied, timeout=240, interval=2, what="Ready=False PackageAccessDenied")
        assert "anonymously" in cond["message"] and "pullSecret" in cond["message"]
    finally:
        wisp.kubectl("delete", "secret", "regcred", namespace=FUNCTIONS, check=False)


def test_the_installations_pull_secret_runs_a_private_package_in_another_namespace(
    wisp: Wisp, registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    """The chart's ``functions.packages.pullSecret`` lives in the release namespace only; the
    operator, with the chart's RBAC, copies it to the Function's namespace, and the pod pulls."""
    public, private = registries
    folder, code = _private_package(wisp, private, tmp_path, "site", "site-cred", SYSTEM)
    # Not in the Function's namespace until the operator copies it (once the chart names it, the
    # operator copies it to every namespace with Functions, earlier tests' included).
    assert wisp.kubectl("get", "secret", "site-cred", namespace=FUNCTIONS, check=False).returncode != 0
    wisp.configure(
        values={"functions.packages.pullSecret": "site-cred"},
        json_values={"functions.packages.plainHttp": [public.address, private.address]},
    )
    try:
        manifest = yaml.safe_load((folder / "function.yaml").read_text())
        manifest["spec"]["code"] = {"archive": code}
        wisp.apply(yaml.safe_dump(manifest))
        wisp.wait_ready("site-package")

        status, body = wisp.call("site-package", {})
        assert status == 200, body
        assert body["value"] == 42 and body["marker"] == "site"
        copied = json.loads(
            wisp.kubectl("get", "secret", "site-cred", "-o", "json", namespace=FUNCTIONS).stdout
        )
        assert copied["metadata"]["labels"]["wisp.dev/pull-secret-copy"] == "true"
        assert copied["metadata"]["annotations"]["wisp.dev/copied-from"] == f"{SYSTEM}/site-cred"
    finally:
        wisp.kubectl("delete", "fn", "site-package", "--ignore-not-found", namespace=FUNCTIONS, check=False)
        wisp.kubectl("delete", "secret", "site-cred", "--ignore-not-found", namespace=FUNCTIONS, check=False)
        wisp.kubectl("delete", "secret", "site-cred", "--ignore-not-found", namespace=SYSTEM, check=False)
        wisp.configure(json_values={"functions.packages.plainHttp": [public.address, private.address]})
