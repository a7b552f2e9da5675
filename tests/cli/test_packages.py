"""``wisp deploy`` with code packages against the real control plane and a real registry: a folder
that cannot be a ConfigMap is zipped and pushed, the Function names the package by digest, the
same files give the same digest, ``--zip`` takes an archive as it is, and mistakes are one line
saying what to do."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Wisp
from tests.support.registry import Registry

pytestmark = [pytest.mark.cluster, pytest.mark.registry]


def kube_args(kubeconfig: Path, namespace: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "-n", namespace]


def binary_folder(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "main.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "models" / "weights.bin").write_bytes(bytes(range(256)) * 64)  # not UTF-8: no ConfigMap
    manifest = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "scorer"},
        "spec": {"runtime": "python3.12", "handler": "main.handler"},
    }
    (root / "function.yaml").write_text(yaml.safe_dump(manifest))
    return root


def test_a_folder_with_binary_files_is_deployed_as_a_package(
    wisp: Wisp, kubeconfig: Path, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    folder = binary_folder(tmp_path / "scorer")
    repo = registry.repository("team/fns")
    args = ["deploy", str(folder), *kube_args(kubeconfig, namespace), "--no-wait", "-o", "json"]

    refused = wisp(*args)
    assert refused.returncode == 1
    assert (
        "models/weights.bin: is not UTF-8 text; deploy the folder as a package (--package)" in refused.stderr
    )

    deployed = wisp(*args, "--repository", repo, "--plain-http")
    assert deployed.returncode == 0, deployed.stderr
    archive = json.loads(deployed.stdout)[0]["spec"]["code"]["archive"]
    assert archive["repository"] == repo
    assert registry.blob_file(archive["digest"]).is_file()

    again = wisp(*args, "--repository", repo, "--plain-http")
    assert json.loads(again.stdout)[0]["spec"]["code"]["archive"] == archive  # same files, same digest

    described = wisp("describe", "scorer", *kube_args(kubeconfig, namespace))
    assert f"package {archive['digest']} from {repo}" in described.stdout


def test_a_tar_gz_is_deployed_as_it_is_with_zip(
    wisp: Wisp, kubeconfig: Path, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    folder = binary_folder(tmp_path / "scorer")
    archive = tmp_path / "build.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = b"def handler(e, c):\n    return 2\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    deployed = wisp(
        "deploy", str(folder / "function.yaml"), *kube_args(kubeconfig, namespace), "--no-wait", "-o", "json",
        "--zip", str(archive), "--repository", registry.repository(), "--plain-http",
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    code = json.loads(deployed.stdout)[0]["spec"]["code"]
    assert code == {
        "archive": {
            "digest": "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest(),
            "repository": registry.repository(),
        }
    }


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--package"], "packages go to an OCI registry: pass --repository host[:port]/path"),
        (["--package", "--repository", "nohost"], "--repository: 'nohost' is not a repository"),
        (["--zip", "missing.zip", "--repository", "r.io/p"], "--zip missing.zip: no such file"),
    ],
)
def test_package_mistakes_are_one_line(
    wisp: Wisp, kubeconfig: Path, namespace: str, tmp_path: Path, extra: list[str], words: str
) -> None:
    folder = binary_folder(tmp_path / "scorer")
    done = wisp("deploy", str(folder), *kube_args(kubeconfig, namespace), "--no-wait", *extra)
    assert done.returncode != 0
    assert words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
