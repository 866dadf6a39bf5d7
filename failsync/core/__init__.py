"""The pure core of failsync: policy model and validation, health, the weight
decision, rendering and diffing.

Owns: values and functions from input to output. Never does: network or
Kubernetes calls, writing files, reading the clock or the environment, logging
setup. It may import only the standard library, jinja2 and yaml;
it never imports ``failsync.kube``, ``failsync.sync``, ``failsync.controller``,
``failsync.cli`` or ``failsync.sandbox``.
"""
