"""``--cluster NAME=CONTEXT`` / ``NAME=KUBECONFIG_FILE:CONTEXT`` parsing (SPEC §11): what each form means,
contexts that contain ':' (EKS ARNs), and the errors for values failsync cannot use."""
from __future__ import annotations

from pathlib import Path

import pytest

from failsync.clusters import ClusterOptionError, ClusterSpec, parse_cluster, parse_clusters


def test_name_and_context_of_the_global_kubeconfig() -> None:
    assert parse_cluster("east=east-context") == ClusterSpec("east", None, "east-context")


def test_a_context_with_colons_stays_whole_unless_a_file_comes_first(tmp_path: Path) -> None:
    arn = "arn:aws:eks:eu-west-1:123456789012:cluster/east"
    assert parse_cluster(f"east={arn}") == ClusterSpec("east", None, arn)
    config = tmp_path / "east.yaml"
    config.write_text("{}")
    assert parse_cluster(f"east={config}:{arn}") == ClusterSpec("east", str(config), arn)
    assert parse_cluster(f"east={config}:east") == ClusterSpec("east", str(config), "east")


@pytest.mark.parametrize(("value", "says"), [
    ("east", "expected --cluster NAME=CONTEXT"),
    ("east=", "expected --cluster NAME=CONTEXT"),
    ("EAST=east", "not a DNS-1123 label"),
    ("east=./missing/kubeconfig:east", "cannot read kubeconfig file ./missing/kubeconfig: no such file"),
])
def test_unusable_values(value: str, says: str) -> None:
    with pytest.raises(ClusterOptionError, match=".*") as error:
        parse_cluster(value)
    assert says in str(error.value) and error.value.exit_code == 2


def test_each_name_once() -> None:
    with pytest.raises(ClusterOptionError, match="given twice"):
        parse_clusters(["east=a", "east=b"])
