"""A policy file larger than ``MAX_POLICY_FILE_BYTES`` is one error naming the limit; a file of
exactly the limit is read whole (the read that checks for more finds nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from failsync import loading
from tests.helpers import MINIMAL_POLICY


def test_a_file_over_the_limit_is_an_error_and_one_at_it_loads(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    text = MINIMAL_POLICY.format(name="web")
    at_limit = tmp_path / "at.yaml"
    at_limit.write_text(text)
    over = tmp_path / "over.yaml"
    over.write_text(text + "#")
    monkeypatch.setattr(loading, "MAX_POLICY_FILE_BYTES", len(text.encode()))

    loaded = loading.load_policies([at_limit])
    assert loaded.errors == () and [policy.name for policy in loaded.policies] == ["web"]

    refused = loading.load_policies([over])
    assert refused.policies == ()
    assert [str(error) for error in refused.errors] == [
        f"{over}: is larger than 0 MiB; expected a policy file of at most that size (split it into several files)"]
