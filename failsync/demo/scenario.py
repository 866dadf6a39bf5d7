"""The guide's scenario, step by step, on two in-process sandbox clusters with the real loop.

Owns: starting ``west`` and ``east``, installing emojivoto in both, exporting east's
web-svc (the sandbox mirror makes ``web-svc-east`` in west), running ``failsync run`` (the
real ``Controller``, in a thread, reading health in east too as ``--cluster east=east`` does) on
the guide's policy, playing kubectl (GET the
TrafficSplit, ``scale`` the web Deployment, over HTTP) and checking after every step that
the cluster looks as the guide says (what it reads off a cluster is ``failsync.demo.readings``).
Every wait polls with a deadline.
Never does: decide weights or write TrafficSplits (the loop does), or parse options.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TypeVar

from failsync.clusters import RemoteCluster, connect, parse_clusters
from failsync.controller import Controller, LoopOptions
from failsync.controller.reconciler import Inputs
from failsync.core.model import Policy
from failsync.core.rendering import Renderer
from failsync.demo import emojivoto, readings
from failsync.demo.console import Console
from failsync.demo.emojivoto import FALLBACK, NAMESPACE, POLICY_NAME, PRIMARY, PolicySource
from failsync.demo.traffic import VoteBot, Window, stat_table
from failsync.errors import ApiError, FailsyncError
from failsync.core.targets import weights_of
from failsync.kube import ROUTES, TRAFFIC_SPLITS, KubeClient, Resource
from failsync.sandbox import Sandbox
from failsync.sandbox.service_mirror import GATEWAY_NAME, GATEWAY_NAMESPACE
from failsync.sync import sync_once

T = TypeVar("T")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
TS_VERSION = "split.smi-spec.io/v1alpha2"
ROUTE_VERSION = "gateway.networking.k8s.io/v1"
#: --target -> (kind, kubectl short name).
TARGET_KINDS = {"trafficsplit": ("TrafficSplit", "ts"), "httproute": ("HTTPRoute", "httproute")}
TARGET_RESOURCES = {"TrafficSplit": TRAFFIC_SPLITS[TS_VERSION], "HTTPRoute": ROUTES[("HTTPRoute", ROUTE_VERSION)]}
ON_PRIMARY = {PRIMARY: 1, FALLBACK: 0}
ON_FALLBACK = {PRIMARY: 0, FALLBACK: 1}
ALL_DOWN = {PRIMARY: 0, FALLBACK: 0}
#: The option the loop (and the demo's status pass) get, so that web-svc-east is read in east.
CLUSTER_OPTION = "east=east"
POLICY_KEY = f"{NAMESPACE}/{POLICY_NAME}"


class StepFailed(FailsyncError):
    """A step of the demo did not behave as the guide says."""

    exit_code = 1


@dataclass
class DemoOptions:
    """Knobs of one demo run."""

    timeout: float = 10.0  # deadline of every wait, in seconds
    window: float = 1.0  # seconds of vote-bot traffic behind each stat table
    cwd: Path = field(default_factory=Path.cwd)  # where ./policies/emojivoto/web-svc-failover.yaml is looked for
    templates: Path | None = None
    target: str = "trafficsplit"  # or "httproute": the guide with a Gateway API HTTPRoute instead


@dataclass
class DemoResult:
    """How the run went: the step that failed (None: all passed) and the measured reaction times."""

    steps: int
    failed_step: int | None = None
    failed_title: str = ""
    message: str = ""
    reactions: dict[str, float] = field(default_factory=dict)  # "failover"/"failback" -> seconds

    @property
    def passed(self) -> bool:
        return self.failed_step is None


class Demo:
    """The running demo: sandboxes, the loop, and the steps. A context manager that stops everything."""

    def __init__(self, console: Console, options: DemoOptions | None = None) -> None:
        self.console = console
        self.options = options or DemoOptions()
        self.sandbox = Sandbox(clusters=("west", "east"), mirror_mode="gateway")
        self._scratch = tempfile.TemporaryDirectory(prefix="failsync-demo-")
        self.policy: PolicySource = emojivoto.find_policy(self.options.cwd, Path(self._scratch.name))
        self.kind, self.short = TARGET_KINDS[self.options.target]
        self.resource = TARGET_RESOURCES[self.kind]
        if self.kind != "TrafficSplit":
            self.policy = emojivoto.as_route_policy(self.policy, Path(self._scratch.name))
        self.controller: Controller | None = None
        self._loop_thread: threading.Thread | None = None
        self.west: KubeClient | None = None
        self.east: KubeClient | None = None
        self.steps: list[tuple[str, Callable[[], str]]] = [
            ("Install emojivoto in west and east", self.install),
            ("Export web-svc from east: web-svc-east appears in west", self.export),
            (f"Create the failover {self.kind}: failsync run with the guide's policy", self.create_split),
            ("vote-bot traffic goes to the primary, web-svc", self.traffic_on_primary),
            (f"Scale web to 0 in west: the {self.kind} fails over to web-svc-east", self.fail_over),
            (f"Scale web back to 1 in west: the {self.kind} fails back to web-svc", self.fail_back),
            ("Scale web to 0 in east and west: web-svc-east still looks ready, failsync does not fail over "
             "into a dead east", self.all_down),
        ]
        self.reactions: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Demo":
        self.sandbox.start()
        self.west = KubeClient.from_kubeconfig(self.sandbox.kubeconfig, "west")
        self.east = KubeClient.from_kubeconfig(self.sandbox.kubeconfig, "east")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the loop (gracefully), then the sandboxes."""
        if self.controller is not None:
            self.controller.stop()
            if self._loop_thread is not None:
                self._loop_thread.join(30)
            self.controller = None
        self.sandbox.stop()
        self._scratch.cleanup()

    def run(self) -> DemoResult:
        """Walk every step; stop at the first that does not behave as the guide says."""
        total = len(self.steps)
        self.console.title("failsync demo: the Linkerd multicluster failover guide, on a local sandbox")
        self.console.note(f"clusters west ({self.sandbox['west'].url}) and east ({self.sandbox['east'].url}); "
                          f"policy: {self.policy.label}")
        for number, (title, step) in enumerate(self.steps, start=1):
            if number > 1:
                self.console.pause(title)
            self.console.step(number, total, title)
            try:
                self.console.ok(step())
            except (StepFailed, ApiError) as error:
                self.console.end_progress()
                self.console.failed(str(error))
                return DemoResult(total, number, title, str(error), dict(self.reactions))
        return DemoResult(total, reactions=dict(self.reactions))

    # ------------------------------------------------------------------ steps

    def install(self) -> str:
        self.console.command("kubectl --context=west apply -f emojivoto.yml   # and --context=east")
        items = emojivoto.objects()
        for name in ("west", "east"):
            for obj in items:
                self.sandbox[name].apply(obj)
        names = {kind: [o["metadata"]["name"] for o in items if o["kind"] == kind]
                 for kind in ("Namespace", "Deployment", "Service")}
        self.console.block([f"namespace/{','.join(names['Namespace'])} created",
                            f"deployment.apps/{{{','.join(names['Deployment'])}}} created",
                            f"service/{{{','.join(names['Service'])}}} created"])
        for name, client in (("west", self.west), ("east", self.east)):
            self._wait(lambda c=client: self._ready(c).get(PRIMARY, 0) >= 1, f"web-svc ready in {name}")
        return "web, emoji, voting and vote-bot run in both clusters; web-svc has a ready endpoint in each"

    def export(self) -> str:
        self.console.command("kubectl --context=east -n emojivoto label svc/web-svc mirror.linkerd.io/exported=true")
        self.sandbox.export("east", NAMESPACE, PRIMARY)  # the service mirror (gateway mode) makes web-svc-east in west
        self._wait(lambda: self._ready(self.west).get(FALLBACK, 0) >= 1, "web-svc-east to appear in west")
        self.console.command("kubectl --context=west -n emojivoto get svc")
        self.console.table(self._service_rows(), highlight=lambda row: row[0] == FALLBACK)
        return "west now has web-svc-east, the mirror of east's web-svc, with a ready endpoint"

    def create_split(self) -> str:
        self.console.command(f"failsync --context=west run {emojivoto.POLICY_PATH}   # the loop, in-process")
        self._start_loop()
        self._wait(lambda: self._weights() == ON_PRIMARY, f"the loop to create the {self.kind}",
                   otherwise=lambda: f"weights now: {readings.describe(self._weights())}")
        self._show_split()
        return f"failsync created {self.kind} {NAMESPACE}/{POLICY_NAME}: {readings.describe(ON_PRIMARY)}"

    def traffic_on_primary(self) -> str:
        return self._traffic_goes_to(PRIMARY)

    def fail_over(self) -> str:
        self.console.ok("failed over in " + self._scale_and_wait(0, ON_FALLBACK, "fail over", "failover"))
        self._show_split()
        return self._traffic_goes_to(FALLBACK)

    def fail_back(self) -> str:
        self.console.ok("failed back in " + self._scale_and_wait(1, ON_PRIMARY, "fail back", "failback"))
        self._show_split()
        return self._traffic_goes_to(PRIMARY)

    def all_down(self) -> str:
        """linkerd-failover#175: in gateway mode the mirror's endpoint is east's gateway, ready while east
        has no web pod; failsync reads east itself and keeps traffic where whenAllDown says."""
        assert self.west is not None and self.east is not None
        # East first: with west still serving nothing moves, and the loop has seen east at 0 before
        # west goes down (west first would fail over to a then healthy east, and keep it there).
        self._scale("east", self.east, "web", 0)
        self._wait(lambda: self._loop_ready().get(FALLBACK) == 0, "the loop to read web-svc-east as 0 ready in east",
                   otherwise=lambda: f"the loop still counts {FALLBACK} as {self._loop_ready().get(FALLBACK)} "
                                     f"ready: it does not read east")
        self._scale("west", self.west, "web", 0)
        self._wait(lambda: self._loop_settled_on(ALL_DOWN), "the loop to decide with web-svc and web-svc-east down")
        self.console.command("kubectl --context=west -n emojivoto get svc   # what linkerd-failover reads")
        self.console.table(self._service_rows(), highlight=lambda row: row[0] == FALLBACK)
        if self._ready(self.west).get(FALLBACK, 0) < 1:
            raise StepFailed("web-svc-east has no ready endpoint in west: the gateway should make it look ready")
        self.console.ok("web-svc-east still has a ready endpoint (east's gateway) although east runs no web pod: "
                        "linkerd-failover would send all traffic there")
        self._expect_reason(f"{FALLBACK}: 0 ready in east, gateway up")
        self._keeps_weights()
        self.console.ok(f"failsync keeps traffic on {PRIMARY} ({self._when_all_down()}): it read east, and "
                        f"east has no ready web pod")
        self._scale("east", self.east, GATEWAY_NAME, 0, namespace=GATEWAY_NAMESPACE)
        self._wait(lambda: self._ready(self.west).get(FALLBACK, 0) == 0, "web-svc-east's endpoint to go unready")
        self.console.command("kubectl --context=west -n emojivoto get svc   # the mirror's own endpoint: unready")
        self.console.table(self._service_rows(), highlight=lambda row: row[0] == FALLBACK)
        self._wait(lambda: self._loop_settled_on(ALL_DOWN), "the loop to decide with east's gateway down")
        self._expect_reason(f"{FALLBACK}: 0 ready in east, gateway down (0 of 1 local endpoints ready)")
        self._keeps_weights()
        return (f"east's gateway stopped: web-svc-east's own endpoint went unready; traffic stays on {PRIMARY} "
                f"({self._when_all_down()})")

    # ------------------------------------------------------------------ pieces

    def _clusters(self) -> dict[str, RemoteCluster]:
        """East as ``--cluster east=east`` gives it (a fresh client and reachability state per user)."""
        return connect(parse_clusters([CLUSTER_OPTION]), str(self.sandbox.kubeconfig))

    def _start_loop(self) -> None:
        assert self.west is not None
        self.controller = Controller(self.west, LoopOptions(paths=[self.policy.path], identity="failsync-demo",
                                                           metrics_port=None),
                                     renderer=Renderer(self.options.templates), clusters=self._clusters())
        self._loop_thread = threading.Thread(target=self.controller.run, name="failsync-run", daemon=True)
        self._loop_thread.start()

    def _scale_and_wait(self, replicas: int, expected: Mapping[str, int], verb: str, label: str) -> str:
        assert self.west is not None
        self._scale("west", self.west, "web", replicas)
        started = time.monotonic()
        self._wait(lambda: self._weights() == expected, f"the {self.kind} to {verb}",
                   otherwise=lambda: f"the {self.kind} did not {verb}; weights now: "
                                     f"{readings.describe(self._weights())}")
        observed = time.monotonic() - started
        reaction = readings.server_reaction(self.sandbox["west"].requests, self.resource.plural)
        self.reactions[label] = reaction if reaction is not None else observed
        if reaction is None:
            return f"{observed * 1000:.1f} ms (seen by polling)"
        return f"{reaction * 1000:.1f} ms (from the scale request to the {self.kind} write landing, server clock)"

    def _scale(self, context: str, client: KubeClient, name: str, replicas: int, *,
               namespace: str = NAMESPACE) -> None:
        self.console.command(f"kubectl --context={context} -n {namespace} scale deploy/{name} --replicas={replicas}")
        client.scale(DEPLOYMENTS, namespace, name, replicas)
        self.console.block([f"deployment.apps/{name} scaled"])

    def _loop_inputs(self) -> Inputs | None:
        """What the loop's next reconcile of the policy starts from (its caches, remote health included)."""
        assert self.controller is not None
        return self.controller.reconciler.inputs(POLICY_KEY)

    def _loop_ready(self) -> dict[str, int]:
        inputs = self._loop_inputs()
        return dict(inputs.ready) if inputs is not None else {}

    def _loop_settled_on(self, ready: Mapping[str, int]) -> bool:
        """The loop has reconciled the policy with exactly these ready counts (and written what it decided)."""
        assert self.controller is not None
        inputs = self._loop_inputs()
        return inputs is not None and inputs.ready == dict(ready) and self.controller.reconciler.is_settled(inputs)

    def _policy(self) -> Policy:
        """The guide's policy as the loop runs it."""
        assert self.controller is not None
        return self.controller.policies[POLICY_KEY]

    def _when_all_down(self) -> str:
        return f"whenAllDown: {self._policy().when_all_down.value}"

    def _keeps_weights(self) -> None:
        self._show_split()
        if self._weights() != ON_PRIMARY:
            raise StepFailed(f"the {self.kind} moved into a dead east; weights now: {readings.describe(self._weights())}")

    def _expect_reason(self, expected: str) -> None:
        """Show the decision as ``failsync status --cluster east=east`` reports it; its reason must name east."""
        assert self.west is not None
        self.console.command(f"failsync --context=west status {emojivoto.POLICY_PATH} --cluster {CLUSTER_OPTION} "
                             f"-o json | jq '.objects[0] | {{state, ready, reason}}'")
        report = sync_once(self.west, [self._policy()], dry_run=True,
                           renderer=Renderer(self.options.templates), clusters=self._clusters())
        result = report.results[0].as_dict()
        shown = {key: result[key] for key in ("state", "ready", "reason")}
        self.console.block(json.dumps(shown, indent=2).splitlines())
        if expected not in (result["reason"] or ""):
            raise StepFailed(f"the decision's reason does not say {expected!r}: {result['reason'] or result['message']}")

    def _traffic_goes_to(self, backend: str) -> str:
        assert self.west is not None
        self.console.command("linkerd --context=west viz stat -n emojivoto svc --from deploy/vote-bot")
        bot = VoteBot(self.west, self.resource, NAMESPACE, POLICY_NAME)
        window: Window = bot.run(self.options.window, backends=(PRIMARY, FALLBACK),
                                 progress=lambda elapsed: self.console.progress("vote-bot sending requests", elapsed))
        self.console.end_progress()
        self.console.table(stat_table(window), highlight=lambda row: row[1] != "-")
        carrying = window.carrying()
        if carrying != [backend]:
            raise StepFailed(f"vote-bot traffic went to {', '.join(carrying) or 'no backend'}, not {backend}")
        stat = window.stats[backend]
        if stat.successes != stat.requests:
            raise StepFailed(f"{stat.requests - stat.successes} of {stat.requests} requests to {backend} failed "
                             f"(it has no ready endpoint)")
        return f"all {stat.requests} vote-bot requests went to {backend} and succeeded"

    def _show_split(self) -> None:
        assert self.west is not None
        self.console.command(f"kubectl --context=west -n emojivoto get {self.short}/{POLICY_NAME} -o yaml   # spec")
        lines, heavy = readings.spec_lines(self.west.get(self.resource, NAMESPACE, POLICY_NAME))
        self.console.block(lines, highlighted=heavy)

    def _weights(self) -> dict[str, int] | None:
        assert self.west is not None
        return weights_of(self.west.get(self.resource, NAMESPACE, POLICY_NAME), (PRIMARY, FALLBACK))

    @staticmethod
    def _ready(client: KubeClient | None) -> dict[str, int]:
        assert client is not None  # set by __enter__
        return readings.ready_endpoints(client)

    def _service_rows(self) -> list[list[str]]:
        assert self.west is not None  # set by __enter__
        return readings.service_rows(self.west)

    def _wait(self, predicate: Callable[[], T], what: str, *,
              otherwise: Callable[[], str] | None = None) -> T:
        """Poll ``predicate`` until truthy, showing progress; StepFailed at the deadline."""
        started = time.monotonic()
        while True:
            value = predicate()
            if value:
                self.console.end_progress()
                return value
            elapsed = time.monotonic() - started
            if elapsed >= self.options.timeout:
                self.console.end_progress()
                detail = otherwise() if otherwise else f"{what} did not happen"
                raise StepFailed(f"{detail} (waited {self.options.timeout:g}s for {what})")
            self.console.progress(f"waiting for {what}", elapsed)
            time.sleep(0.005)  # poll interval of a deadline-bounded wait


def run_demo(console: Console, options: DemoOptions | None = None,
             after: Callable[[Demo, DemoResult], None] | None = None) -> DemoResult:
    """Run the whole demo; ``after`` (e.g. ``--keep-running``) runs before everything is stopped."""
    with Demo(console, options) as demo:
        result = demo.run()
        if after is not None:
            after(demo, result)
    return result


__all__ = ["Demo", "DemoOptions", "DemoResult", "StepFailed", "run_demo"]
