"""``failsync sandbox``: run the local Kubernetes-compatible API server until SIGTERM/SIGINT.

Thin: parses options, starts ``failsync.sandbox.Sandbox``, prints where it listens.
"""

from __future__ import annotations

import signal
import threading

import click

from failsync.cli.options import global_options, settings


@click.command("sandbox")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port of the first cluster; further clusters take the next ports (0 = free ports).")
@click.option("--cluster", "clusters", multiple=True, help="Cluster name (repeat for several; default: sandbox).")
@click.option("--token", "tokens", multiple=True,
              help="Require bearer tokens: NAME grants everything, NAME=ro grants get/list/watch (repeatable).")
@click.option("--readiness-delay", type=float, default=0.0, show_default=True,
              help="Seconds before a new replica counts as ready.")
@global_options
def sandbox_command(port: int, clusters: tuple[str, ...], tokens: tuple[str, ...],
                    readiness_delay: float) -> None:
    """Serve sandbox Kubernetes API server(s) on 127.0.0.1 until interrupted.

    The kubeconfig (global --kubeconfig, default ./sandbox.kubeconfig) gets one
    context per cluster, named after it.

    \b
    Example:
      failsync sandbox --cluster west --cluster east
      kubectl --kubeconfig sandbox.kubeconfig get ts -A -w
    """
    from failsync.sandbox import Sandbox, tls

    kubeconfig_file = settings().kubeconfig or "sandbox.kubeconfig"
    token_rules: dict[str, object] = {}
    for token in tokens:
        name, _, mode = token.partition("=")
        token_rules[name] = {"verbs": ["get", "list", "watch"], "resources": ["*"]} if mode == "ro" else "*"
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sandbox = Sandbox(clusters=clusters or ("sandbox",), kubeconfig=kubeconfig_file, tokens=token_rules or None,
                          readiness_delay=readiness_delay, port=port)
        try:
            sandbox.start()
        except OSError as error:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
        except tls.TLSUnavailable as error:
            raise click.ClickException(str(error)) from None
        with sandbox:
            for cluster in sandbox:
                click.echo(f"cluster {cluster.name}: {cluster.url}")
            click.echo(f"kubeconfig: {sandbox.kubeconfig}")
            click.echo(f"try: kubectl --kubeconfig {sandbox.kubeconfig} get ts -A -w")
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS: list[click.Command] = [sandbox_command]
