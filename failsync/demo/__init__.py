"""``failsync demo``: the Linkerd multicluster failover guide replayed on two in-process
sandbox clusters with the real loop, no cluster needed.

Owns: the demo scenario (``scenario``), the emojivoto objects and the guide's policy
(``emojivoto``), the simulated vote-bot and its ``linkerd viz stat``-like table
(``traffic``) and the terminal output (``console``).
Never does: decide or write weights itself (``failsync.controller`` does, as in production);
the sandbox stays a world of its own.
"""

from failsync.demo.console import Console
from failsync.demo.scenario import Demo, DemoOptions, DemoResult, StepFailed, run_demo

__all__ = ["Console", "Demo", "DemoOptions", "DemoResult", "StepFailed", "run_demo"]
