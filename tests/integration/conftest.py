"""Fixtures for integration tests against the sandbox over real HTTP.

- `sandbox`: a module-scoped Sandbox with clusters west and east (override it in a
  module for other settings, e.g. tokens or a small watch history);
- `kubectl`: runs /usr/bin/kubectl against the sandbox's kubeconfig with an isolated
  discovery cache; `kubectl(*args)` returns (returncode, stdout, stderr),
  `kubectl.popen(*args)` starts a long-running one (e.g. `get -w`);
- `api` / `east_api`: pykube-ng HTTPClients for the west and east contexts;
- `namespace`: a fresh namespace in west for one test.
"""
from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pykube
import pytest

from failsync.sandbox import Sandbox

KUBECTL = "/usr/bin/kubectl"
_namespace_numbers = itertools.count(1)


class KubectlResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


class Kubectl:
    """kubectl as a subprocess against one kubeconfig, with its own discovery cache."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.cache_dir = cache_dir

    def command(self, args: tuple[str, ...], kubeconfig: Path | None = None) -> list[str]:
        config = kubeconfig or self.kubeconfig
        return [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(self.cache_dir), *args]

    def __call__(self, *args: str, input: str | None = None, kubeconfig: Path | None = None,
                 timeout: float = 30) -> KubectlResult:
        done = subprocess.run(self.command(args, kubeconfig), input=input, capture_output=True,
                              text=True, timeout=timeout)
        return KubectlResult(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, kubeconfig: Path | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.command(args, kubeconfig), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)


def http_client(kubeconfig: Path, context: str | None = None) -> pykube.HTTPClient:
    """A pykube-ng client for one context of a kubeconfig."""
    config = pykube.KubeConfig.from_file(str(kubeconfig), current_context=context)
    return pykube.HTTPClient(config, timeout=10)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clusters=("west", "east")) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(sandbox.kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> pykube.HTTPClient:
    return http_client(sandbox.kubeconfig, "west")


@pytest.fixture(scope="module")
def east_api(sandbox: Sandbox) -> pykube.HTTPClient:
    return http_client(sandbox.kubeconfig, "east")


@pytest.fixture
def namespace(api: pykube.HTTPClient) -> str:
    """A new namespace in west, unique within the session."""
    name = f"t{next(_namespace_numbers)}"
    pykube.Namespace(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).create()
    return name
