"""The Linkerd failover guide's kubectl commands, run verbatim against `failsync sandbox --cluster west --cluster east`.

The real command line starts the sandbox (its own kubeconfig, whose contexts are the guide's
`west` and `east`, so no command needs a substitution); kubectl gets that kubeconfig and a
cache directory added after `kubectl`, nothing else. Each step below is a command of the guide,
in the guide's order, with what the test asserts about it:

1. `helm --kube-context=west repo add linkerd-smi https://linkerd.github.io/linkerd-smi`,
   `helm --kube-context=west repo up`,
   `helm --kube-context=west install linkerd-smi -n linkerd-smi --create-namespace linkerd-smi/linkerd-smi`,
   `helm --kube-context=west repo add linkerd-edge https://helm.linkerd.io/edge`,
   `helm --kube-context=west repo up`,
   `helm --kube-context=west install linkerd-failover -n linkerd-failover --create-namespace --devel
   linkerd-edge/linkerd-failover`: not run (no helm, no chart repositories, and a sandbox runs no
   pods). What the linkerd-smi chart installs that the guide relies on is the TrafficSplit CRD;
   `kubectl --context=west apply -f <linkerd-smi's CRD>` stands in for it (with a cache directory
   of its own, as helm does not share kubectl's) and replaces the sandbox's default TrafficSplit
   CRD, so the cluster serves v1alpha1 and v1alpha2 as the guide's did. linkerd-failover is
   replaced by failsync's drop-in for it, `failsync run --adopt`.
2. `linkerd --context=west inject https://run.linkerd.io/emojivoto.yml | kubectl --context=west apply -f -`
   (and the same in east): the linkerd CLI is not run; its output for that manifest
   (tests/fixtures/emojivoto-injected.yml) is piped into the guide's `kubectl ... apply -f -`,
   without `--validate=false`: every object is created.
3. `kubectl --context=east -n emojivoto label svc/web-svc mirror.linkerd.io/exported=true`:
   labelled, and the sandbox's service mirror makes web-svc-east in west.
4. `kubectl --context=west -n emojivoto get svc`: the guide's four rows and columns (cluster IPs
   in 10.96.0.0/12 and ages are the cluster's own).
5. `cat <<EOF | kubectl --context=west apply -f -` with the guide's TrafficSplit: created.
6. `linkerd --context=west viz stat -n emojivoto svc --from deploy/vote-bot` (three times): not run
   (no linkerd CLI, no proxies, no traffic); the TrafficSplit's weights, which is what viz stat
   reflects, are checked instead after each scale.
7. `kubectl --context=west -n emojivoto scale deploy/web --replicas=0`: scaled, and the failover
   controller moves the weight.
8. `kubectl --context=west -n emojivoto get ts/web-svc-failover -o yaml`: the guide's object
   (apiVersion v1alpha2, weights 0 and 1), with this cluster's uid, resourceVersion, creation time
   and generation, and the last-applied annotation `kubectl apply` writes (the guide's printout
   leaves it out); `kubectl --context=west -n emojivoto get ts` (not in the guide) shows the CRD's
   Service column.
9. `kubectl --context=west -n emojivoto scale deploy/web --replicas=1`: prints the guide's
   `deployment.apps/web scaled`, and the weight returns to web-svc.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import (GUIDE_TRAFFIC_SPLIT, GUIDE_TRAFFIC_SPLIT_FILE, LineStream, exit_code_after_sigterm,
                           reaped, wait_for)
from tests.integration.conftest import KUBECTL

FAILSYNC = Path(sys.executable).parent / "failsync"
FIXTURES = Path(__file__).parents[2] / "fixtures"
EMOJIVOTO = FIXTURES / "emojivoto-injected.yml"
LINKERD_SMI_CRD = FIXTURES / "crds" / "linkerd-smi-trafficsplit.yaml"

# The guide's commands, as the guide writes them (a pipe's left side is what feeds stdin).
INSTALL_WEST = "kubectl --context=west apply -f -"
INSTALL_EAST = "kubectl --context=east apply -f -"
EXPORT = "kubectl --context=east -n emojivoto label svc/web-svc mirror.linkerd.io/exported=true"
GET_SERVICES = "kubectl --context=west -n emojivoto get svc"
APPLY_SPLIT = "kubectl --context=west apply -f -"
SCALE_DOWN = "kubectl --context=west -n emojivoto scale deploy/web --replicas=0"
GET_SPLIT = "kubectl --context=west -n emojivoto get ts/web-svc-failover -o yaml"
SCALE_UP = "kubectl --context=west -n emojivoto scale deploy/web --replicas=1"

#: The guide's `get svc` output without its cluster-specific CLUSTER-IP and AGE columns.
GUIDE_SERVICES = [("emoji-svc", "ClusterIP", "<none>", "8080/TCP,8801/TCP"),
                  ("voting-svc", "ClusterIP", "<none>", "8080/TCP,8801/TCP"),
                  ("web-svc", "ClusterIP", "<none>", "80/TCP"),
                  ("web-svc-east", "ClusterIP", "<none>", "80/TCP")]
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
AGE = re.compile(r"^\d+[smhdy]")


class Guide:
    """Runs the guide's kubectl commands against one kubeconfig, with a private discovery cache."""

    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        self.kubeconfig, self.cache = kubeconfig, cache

    def __call__(self, command: str, stdin: str | None = None, *, cache: Path | None = None
                 ) -> subprocess.CompletedProcess:
        words = shlex.split(command)
        assert words[0] == "kubectl", command
        argv = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(cache or self.cache), *words[1:]]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)

    def ok(self, command: str, stdin: str | None = None, **kwargs: Path) -> str:
        """Run a command that must succeed and return its stdout."""
        done = self(command, stdin, **kwargs)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory):
    """`failsync sandbox --cluster west --cluster east` running, and its kubeconfig."""
    home = tmp_path_factory.mktemp("guide")
    kubeconfig = home / "kubeconfig"
    process = subprocess.Popen([str(FAILSYNC), "sandbox", "--cluster", "west", "--cluster", "east",
                                "--kubeconfig", str(kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, bufsize=1)
    with reaped(process):
        LineStream(process.stdout).until(lambda line: line.startswith("kubeconfig:"), timeout=30)
        yield Guide(kubeconfig, home / "kubectl-cache")
        assert exit_code_after_sigterm(process, timeout=15) == 0


def _services(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines() if line.strip()]


def _weights(split: dict) -> dict[str, int]:
    return {backend["service"]: backend["weight"] for backend in split["spec"]["backends"]}


def test_the_guides_commands_run_verbatim(guide: Guide) -> None:
    # 1. helm install linkerd-smi: its TrafficSplit CRD (helm keeps no kubectl discovery cache).
    installed = guide.ok(f"kubectl --context=west apply -f {LINKERD_SMI_CRD}", cache=guide.cache.with_name("helm"))
    assert installed.strip() == "customresourcedefinition.apiextensions.k8s.io/trafficsplits.split.smi-spec.io " \
                                "configured"

    # 2. linkerd inject ... | kubectl apply -f -, in both clusters.
    manifest = EMOJIVOTO.read_text()
    for command in (INSTALL_WEST, INSTALL_EAST):
        created = guide.ok(command, manifest).splitlines()
        assert created == ["namespace/emojivoto created", "serviceaccount/emoji created",
                           "serviceaccount/voting created", "serviceaccount/web created",
                           "deployment.apps/emoji created", "service/emoji-svc created",
                           "deployment.apps/vote-bot created", "deployment.apps/voting created",
                           "service/voting-svc created", "deployment.apps/web created", "service/web-svc created"]

    # 3. Export east's web-svc.
    assert guide.ok(EXPORT).strip() == "service/web-svc labeled"

    # 4. west now lists web-svc-east beside its own services.
    table = wait_for(lambda: (lambda out: "web-svc-east" in out and out)(guide.ok(GET_SERVICES)), timeout=10,
                     message="the mirror web-svc-east in west")
    header, *rows = _services(table)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert [(name, kind, external, ports) for name, kind, _ip, external, ports, _age in rows] == GUIDE_SERVICES
    assert all(ipaddress.ip_address(row[2]) in SERVICE_RANGE for row in rows)
    assert len({row[2] for row in rows}) == len(rows)
    assert all(AGE.match(row[5]) for row in rows)

    # The failover controller: failsync's drop-in for linkerd-failover (no policy files: run where there are none).
    controller = subprocess.Popen([str(FAILSYNC), "--kubeconfig", str(guide.kubeconfig), "--context", "west", "run",
                                   "--adopt", "--metrics-port", "0", "--shutdown-timeout", "5"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1,
                                  cwd=guide.kubeconfig.parent)
    with reaped(controller):
        log = LineStream(controller.stderr)
        log.until(lambda line: "caches synced" in line, timeout=30)

        # 5. The guide's TrafficSplit, through a heredoc.
        assert guide.ok(APPLY_SPLIT, GUIDE_TRAFFIC_SPLIT).strip() == \
            "trafficsplit.split.smi-spec.io/web-svc-failover created"

        # 7. Scale the primary down; 8. the TrafficSplit as the guide shows it.
        assert guide.ok(SCALE_DOWN).strip() == "deployment.apps/web scaled"
        shown = wait_for(lambda: (lambda split: _weights(split) == {"web-svc": 0, "web-svc-east": 1} and split)(
            yaml.safe_load(guide.ok(GET_SPLIT))), timeout=10, message="the failover to web-svc-east")
        expected = list(yaml.safe_load_all(GUIDE_TRAFFIC_SPLIT_FILE.read_text()))[1]
        metadata = shown["metadata"]
        assert metadata["annotations"].pop("kubectl.kubernetes.io/last-applied-configuration")
        assert isinstance(metadata["generation"], int) and metadata["generation"] > 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["creationTimestamp"])
        assert re.fullmatch(r"[0-9a-f-]{36}", metadata["uid"]) and metadata["resourceVersion"].isdigit()
        for key in ("generation", "creationTimestamp", "uid", "resourceVersion"):
            metadata[key] = expected["metadata"][key]
        assert shown == expected
        listed = _services(guide.ok("kubectl --context=west -n emojivoto get ts"))
        assert [row[:2] for row in listed] == [["NAME", "SERVICE"], ["web-svc-failover", "web-svc"]]

        # 9. Scale it back up: the guide's output, and the traffic returns to the primary.
        assert guide.ok(SCALE_UP) == "deployment.apps/web scaled\n"
        wait_for(lambda: _weights(yaml.safe_load(guide.ok(GET_SPLIT))) == {"web-svc": 1, "web-svc-east": 0},
                 timeout=10, message="the failback to web-svc")
        assert exit_code_after_sigterm(controller, timeout=15) == 0, log.seen  # within its --shutdown-timeout
