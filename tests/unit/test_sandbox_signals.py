"""``failsync sandbox`` ends cleanly on signals, however close together.

Covers: SIGTERM then SIGINT at once (the pair that can deadlock a handler setting a
``threading.Event``) stop the sandbox with exit 0 and no traceback, every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import LineStream, reaped

FAILSYNC = Path(sys.executable).parent / "failsync"


def _start(tmp_path: Path) -> tuple[subprocess.Popen, LineStream]:
    process = subprocess.Popen([str(FAILSYNC), "sandbox", "--kubeconfig", str(tmp_path / "kubeconfig")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "NO_COLOR": "1"})
    lines = LineStream(process.stdout)
    lines.until(lambda line: line.startswith("kubeconfig:"), timeout=20)
    return process, lines


def test_two_signals_at_once_stop_the_sandbox_cleanly(tmp_path: Path) -> None:
    for _ in range(3):  # a deadlock in a handler shows only now and then
        process, lines = _start(tmp_path)
        with reaped(process):
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
        assert not any("Traceback" in line for line in lines.seen + lines.wait_end(timeout=5))
