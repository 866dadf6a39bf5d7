"""`failsync render` of the SPEC §12 modes: the initial weights are what `sync` creates.

Covers: a gradual policy renders 100 on the primary; a distribute policy renders every
backend's configured weight; the default mode still renders primary 1 (SPEC §5).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from failsync.cli import main

POLICY = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover
  namespace: emojivoto
spec:
  service: web-svc
{extra}  fallbacks:
    - service: web-svc-east
{weight}"""


@pytest.mark.parametrize("extra, weight, expected", [
    pytest.param("", "", [1, 0], id="all-at-once"),
    pytest.param("  failover:\n    mode: gradual\n", "", [100, 0], id="gradual"),
    pytest.param("  mode: distribute\n  primaryWeight: 70\n", "      weight: 30\n", [70, 30], id="distribute"),
])
def test_render_starts_with_the_weights_sync_creates(tmp_path: Path, extra: str, weight: str,
                                                     expected: list[int]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(extra=extra, weight=weight))
    result = CliRunner().invoke(main, ["render", str(path)])
    assert result.exit_code == 0, result.output
    obj = yaml.safe_load(result.stdout)
    assert [b["weight"] for b in obj["spec"]["backends"]] == expected
