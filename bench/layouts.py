"""Policy layouts people write, for the ``layouts`` part: N policies as YAML written by hand
(comments, quoted strings, block lists of mappings, nested mappings), in five layouts.

- ``one-per-file``: one policy per file, one folder;
- ``several-per-file``: five documents per file (``---`` between them);
- ``many-per-file``: the bench's own layout, 100 documents per file;
- ``all-fields``: every Part 1 and Part 2 field in use, rotating over four shapes (a gradual
  TrafficSplit with ``minReadyPercent`` and ``failover.delaySeconds``; an active-active
  ``distribute`` HTTPRoute with ``inactiveBackends``; remote health on a fallback with
  ``remoteGraceSeconds``, as a GRPCRoute; Linkerd's own HTTPRoute with labels and
  ``whenAllDown``), one per file;
- ``nested``: one per file, in folders ``team-T/app-A/`` three levels deep, ``.yaml`` and ``.yml``.

Owns: the text of those files (written in bulk, one pass). Never does: measure or run failsync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

LAYOUTS = ("one-per-file", "several-per-file", "many-per-file", "all-fields", "nested")

_PLAIN = """\
# {name}: fail over from web to the east copy, then the central one
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: {name}
  namespace: "{namespace}"
  labels:
    team: "payments"          # copied onto the rendered TrafficSplit
spec:
  service: web
  fallbacks:
    - service: web-east
    - service: 'web-central'
      priority: 2             # only when web-east is down too
  health:
    minReady: 1
  failback:
    holdSeconds: 30
"""

_HEAD = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: {name}
  namespace: {namespace}
spec:
"""

_GRADUAL = """\
# {name}: a gradual spill-over once the primary has been degraded for 30 s
""" + _HEAD + """\
  service: web
  primary: web
  fallbacks:
    - service: web-east
    - service: web-central
      priority: 2
  health:
    minReady: 2
    minReadyPercent: 50       # half of the pods must be ready
    source: endpointslices
  failover:
    delaySeconds: 30
    mode: gradual
    overprovisioningFactor: 1.4
  failback:
    holdSeconds: 60
  whenAllDown: primary
  target:
    kind: TrafficSplit
    apiVersion: split.smi-spec.io/v1alpha2
"""

_DISTRIBUTE = """\
# {name}: active-active over three backends, an idle one left out of the route
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app.kubernetes.io/part-of: "shop"
spec:
  service: web
  mode: distribute
  primaryWeight: 60
  fallbacks:
    - service: web-east
      weight: 30
    - service: web-central
      weight: 10
      priority: 2
  whenAllDown: zero
  target:
    kind: HTTPRoute
    apiVersion: gateway.networking.k8s.io/v1
    port: 8080
    inactiveBackends: omit
"""

_REMOTE = """\
# {name}: the east fallback counts only with pods ready in the east cluster
""" + _HEAD + """\
  service: web
  fallbacks:
    - service: web-east
      health:
        cluster: east
        service: web
        namespace: {namespace}
    - service: web-central
      priority: 2
  health:
    minReady: 1
    remoteGraceSeconds: 45
  target:
    kind: GRPCRoute
    port: 9090
"""

_LINKERD = """\
# {name}: Linkerd's own HTTPRoute, everything to the primary when all is down
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: "{name}"
  namespace: {namespace}
  labels: {{tier: "frontend", owner: web-team}}
spec:
  service: web
  fallbacks:
    - {{service: web-east}}
    - service: web-central
      priority: 3
  whenAllDown: keep
  target:
    kind: HTTPRoute
    apiVersion: policy.linkerd.io/v1beta3
    port: 80
    inactiveBackends: zero-weight
"""

_SHAPES = (_GRADUAL, _DISTRIBUTE, _REMOTE, _LINKERD)


def _text(index: int, shapes: tuple[str, ...] = (_PLAIN,)) -> str:
    return shapes[index % len(shapes)].format(name=f"web-{index:05d}", namespace=f"lay-{index // 10:05d}")


def _grouped(directory: Path, count: int, per_file: int) -> None:
    for start in range(0, count, per_file):
        documents = [_text(index) for index in range(start, min(count, start + per_file))]
        (directory / f"policies-{start // per_file:05d}.yaml").write_text("---\n".join(documents))


def _one_each(directory: Path, count: int, shapes: tuple[str, ...], place: Callable[[int], Path]) -> None:
    made: set[Path] = set()
    for index in range(count):
        path = directory / place(index)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(_text(index, shapes))


def write_layout(layout: str, count: int, directory: Path) -> Path:
    """``count`` policies in ``layout`` under ``directory`` (created); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    if layout == "one-per-file":
        _one_each(directory, count, (_PLAIN,), lambda i: Path(f"web-{i:05d}.yaml"))
    elif layout == "several-per-file":
        _grouped(directory, count, 5)
    elif layout == "many-per-file":
        _grouped(directory, count, 100)
    elif layout == "all-fields":
        _one_each(directory, count, _SHAPES, lambda i: Path(f"web-{i:05d}.yaml"))
    elif layout == "nested":
        _one_each(directory, count, (_PLAIN,), lambda i: Path(f"team-{i % 10}/app-{i // 10 % 20:02d}/"
                                                              f"env-{i // 200 % 5}/web-{i:05d}."
                                                              f"{'yml' if i % 3 == 0 else 'yaml'}"))
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    return directory
