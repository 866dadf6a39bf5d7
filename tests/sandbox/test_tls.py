"""TLS for token auth when the certificate cannot be made.

Covers: with no `openssl` command, or one that fails, starting a Sandbox with tokens raises
TLSUnavailable with a one-line message saying what to do, and no cluster port is left open.
"""

import pytest

from failsync.sandbox import Sandbox, tls


@pytest.fixture
def fresh_certificate():
    tls.server_context.cache_clear()  # the certificate is made once per process
    yield
    tls.server_context.cache_clear()


@pytest.mark.parametrize("openssl, message", [
    (None, "the sandbox needs the openssl command to serve TLS for token auth"),
    ("/bin/false", "openssl could not make the sandbox's TLS certificate: exit status 1"),
], ids=["missing", "failing"])
def test_tokens_without_a_working_openssl_fail_clearly_before_any_port_opens(monkeypatch, fresh_certificate,
                                                                              openssl, message):
    monkeypatch.setattr(tls.shutil, "which", lambda _name: openssl)
    box = Sandbox(clusters=("west",), tokens={"admin-token": "*"})
    with pytest.raises(tls.TLSUnavailable) as raised:
        box.start()
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert box["west"].port == 0  # never bound
