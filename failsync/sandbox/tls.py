"""TLS for clusters with bearer tokens.

kubectl (client-go's clientcmd) sends a kubeconfig's credentials only to https servers, so a
cluster with tokens also answers TLS on its port: the server sniffs the first byte of each
connection (0x16 = TLS handshake) and wraps it with a self-signed certificate for 127.0.0.1
made once per process with the ``openssl`` command. Plain HTTP keeps working on the same port.
Never does: anything with the HTTP layer above the socket.
"""

from __future__ import annotations

import functools
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

_NO_OPENSSL = ("the sandbox needs the openssl command to serve TLS for token auth (kubectl sends tokens only "
               "over https); install openssl (Debian/Ubuntu: apt-get install openssl) or run without tokens")


class TLSUnavailable(RuntimeError):
    """No ``openssl`` command to make the self-signed certificate, or it failed."""


@functools.lru_cache(maxsize=1)
def server_context() -> ssl.SSLContext:
    """A server SSLContext with a self-signed certificate for 127.0.0.1 (made once)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TLSUnavailable(_NO_OPENSSL)
    with tempfile.TemporaryDirectory(prefix="failsync-sandbox-tls-") as name:  # the key lives on in memory only
        key, cert = Path(name) / "key.pem", Path(name) / "cert.pem"
        done = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                               "-out", str(cert), "-days", "3650", "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise TLSUnavailable(f"openssl could not make the sandbox's TLS certificate: {why}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    return context


def is_tls_handshake(first_byte: bytes) -> bool:
    """Whether a connection's first byte opens a TLS handshake record."""
    return first_byte[:1] == b"\x16"
