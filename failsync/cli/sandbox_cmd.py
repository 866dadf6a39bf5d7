"""``failsync sandbox``: run the local Kubernetes-compatible API server until SIGTERM/SIGINT.

Thin: parses options, starts ``failsync.sandbox.Sandbox`` (with Linkerd's service mirror
between two or more clusters), prints where it listens.
"""

from __future__ import annotations

import re

import click

from failsync.cli.options import kubeconfig_option, logging_options, settings
from failsync.cli.signals import ShutdownSignals

DEFAULT_KUBECONFIG = "sandbox.kubeconfig"
MIRROR_MODES = ("gateway", "remote-discovery")  # failsync.sandbox.service_mirror.MODES, without importing it
_CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _cluster_names(_ctx: click.Context, _param: click.Parameter, names: tuple[str, ...]) -> tuple[str, ...]:
    """Cluster names: distinct RFC 1123 labels (they name contexts and mirrored services)."""
    seen: set[str] = set()
    for name in names:
        if not _CLUSTER_NAME.match(name):
            raise click.BadParameter(f"{name!r} is not a valid cluster name: use lower-case letters, digits and "
                                     "'-' (at most 63), starting and ending with a letter or digit")
        if name in seen:
            raise click.BadParameter(f"{name!r} is given twice: cluster names must be distinct")
        seen.add(name)
    return names or ("sandbox",)


@click.command("sandbox")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port of the first cluster; further clusters take the next ports (0 = free ports).")
@click.option("--cluster", "clusters", multiple=True, callback=_cluster_names,
              help="Cluster name, repeat for several.  [default: sandbox]")
@click.option("--mirror-mode", type=click.Choice(MIRROR_MODES), default="gateway", show_default=True,
              help="With two or more clusters, how Services labelled mirror.linkerd.io/exported=true appear in "
                   "the other clusters as <name>-<cluster>: gateway (Endpoints hold the exporting cluster's "
                   "gateway address, ready while its linkerd-multicluster/linkerd-gateway Deployment runs) or "
                   "remote-discovery (no local Endpoints). exported=remote-discovery always mirrors that way.")
@click.option("--token", "tokens", multiple=True,
              help="Require bearer tokens: NAME grants everything, NAME=ro grants get/list/watch (repeatable). "
                   "[default: no tokens, plain http]")
@click.option("--readiness-delay", type=float, default=0.0, show_default=True,
              help="Seconds before a new replica counts as ready.")
@kubeconfig_option(f"Kubeconfig to write, one context per cluster.  [default: ./{DEFAULT_KUBECONFIG}]")
@logging_options
def sandbox_command(port: int, clusters: tuple[str, ...], mirror_mode: str, tokens: tuple[str, ...],
                    readiness_delay: float) -> None:
    """Serve sandbox Kubernetes API server(s) on 127.0.0.1 until interrupted.

    The kubeconfig gets one context per cluster, named after it. With two or
    more clusters each runs a linkerd-gateway and Linkerd's service mirror:
    label a Service mirror.linkerd.io/exported=true in one cluster and
    <name>-<cluster> appears in the others.

    \b
    Example:
      failsync sandbox --cluster west --cluster east
      kubectl --kubeconfig sandbox.kubeconfig --context east -n emojivoto \\
        label svc/web-svc mirror.linkerd.io/exported=true
      kubectl --kubeconfig sandbox.kubeconfig --context west get ts -A -w
    """
    from failsync.sandbox import Sandbox, tls

    kubeconfig_file = settings().kubeconfig or DEFAULT_KUBECONFIG
    token_rules: dict[str, object] = {}
    for token in tokens:
        name, _, mode = token.partition("=")
        token_rules[name] = {"verbs": ["get", "list", "watch"], "resources": ["*"]} if mode == "ro" else "*"
    signals = ShutdownSignals()  # a handler setting an Event could deadlock on a second signal
    signals.install()
    try:
        sandbox = Sandbox(clusters=clusters, kubeconfig=kubeconfig_file, tokens=token_rules or None,
                          readiness_delay=readiness_delay, port=port,
                          mirror_mode=mirror_mode if len(clusters) > 1 else None)
        try:
            sandbox.start()
        except OSError as error:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
        except tls.TLSUnavailable as error:
            raise click.ClickException(str(error)) from None
        with sandbox:
            for cluster in sandbox:
                click.echo(f"cluster {cluster.name}: {cluster.url}")
            if len(clusters) > 1:
                click.echo(f"service mirror: {mirror_mode} mode (label a Service mirror.linkerd.io/exported=true)")
            click.echo(f"kubeconfig: {sandbox.kubeconfig}")
            click.echo(f"try: kubectl --kubeconfig {sandbox.kubeconfig} get ts -A -w")
            while not signals.count:  # a third signal exits at once, from the handler
                signals.wait(1.0)
    finally:
        signals.restore()


COMMANDS: list[click.Command] = [sandbox_command]
