"""Kubeconfig: which file(s), which context, and the chosen cluster and user from them.

Owns: ``--kubeconfig`` / ``$KUBECONFIG`` (a list ``a:b`` merged as kubectl merges it),
the in-cluster service account, choosing the context, and one-line errors for a
kubeconfig that cannot be used (never a traceback, never a secret in the message).

Read here, not by pykube-ng's ``KubeConfig``: importing that class imports pykube-ng's HTTP
client and with it requests, urllib3 and requests-oauthlib (about 75 ms, a third of a converged
one-shot ``sync``) although the lean transport sends every request of ``sync``. pykube-ng's
configuration is still built, from the same merged document, where its client is used
(``KubeConfig.pykube``: exec and auth-provider credentials, proxies, watch streams).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from failsync.core.simple_yaml import simple_documents
from failsync.errors import FailsyncError, safe_text
from failsync.kube.errors import redact_urls
from failsync.loading import expand_path

if TYPE_CHECKING:
    import pykube

#: Kubeconfig fields naming files, resolved against the directory of the file that names them.
_FILE_FIELDS = {"clusters": ("cluster", ("certificate-authority",)),
                "users": ("user", ("client-certificate", "client-key", "tokenFile")),
                "contexts": ("context", ())}
#: base64 fields that must hold PEM text, by section.
_PEM_DATA_FIELDS = {"clusters": ("certificate-authority-data",),
                    "users": ("client-certificate-data", "client-key-data")}


def kubeconfig_files(kubeconfig: str | Path) -> list[Path]:
    """The files of a kubeconfig setting: one file, or a ``$KUBECONFIG`` list (``a:b``), in order."""
    text = os.fspath(kubeconfig)
    if os.pathsep in text and not expand_path(text).is_file():
        return [expand_path(part) for part in text.split(os.pathsep) if part]
    return [expand_path(text)]


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise FailsyncError(f"cannot read kubeconfig {path}: {error.strerror}") from error
    # The fast reader takes the plain block YAML kubectl writes; PyYAML (~12 ms to import) the rest.
    documents = simple_documents(text)
    if documents is not None and len(documents) <= 1:
        doc: Any = documents[0][0] if documents else None
    else:
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise FailsyncError(f"kubeconfig {path} is not valid YAML: {safe_text(str(error))}") from error
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise FailsyncError(f"kubeconfig {path} is not a mapping")
    return doc


def merge_kubeconfigs(paths: Sequence[Path]) -> dict[str, Any]:
    """The kubeconfig kubectl sees for a ``$KUBECONFIG`` list: files that do not exist are skipped,
    the first file to name a cluster, user or context wins, the first ``current-context`` wins.
    Relative file paths are resolved against the file that holds them."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {section: set() for section in merged}
    for path in paths:
        if len(paths) > 1 and not path.exists():
            continue
        doc = _read_kubeconfig(path)
        for section, (inner, file_fields) in _FILE_FIELDS.items():
            for item in doc.get(section) or ():
                if not isinstance(item, dict) or not isinstance(item.get(inner), dict):
                    continue
                name = str(item.get("name"))
                if name in seen[section]:
                    continue
                seen[section].add(name)
                entry = dict(item[inner])
                for key in file_fields:
                    if isinstance(entry.get(key), str):
                        named = expand_path(entry[key])
                        entry[key] = str(named if named.is_absolute() else path.parent / named)
                merged[section].append({"name": name, inner: entry})
        if not merged.get("current-context") and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def _check_pem_data(doc: Mapping[str, Any], where: str, context: str) -> None:
    """A ``*-data`` field of the chosen cluster or user that is not base64 PEM: one line naming it."""
    chosen = next(item["context"] for item in doc["contexts"] if item["name"] == context)
    for section, fields in _PEM_DATA_FIELDS.items():
        inner = _FILE_FIELDS[section][0]
        name = chosen.get(inner)
        for item in doc[section]:
            if item["name"] != name:
                continue
            for key in fields:
                value = item[inner].get(key)
                if value is None:
                    continue
                import base64  # here: only a kubeconfig with embedded certificates needs it

                try:
                    text = base64.b64decode(str(value), validate=True).decode("ascii")
                except (ValueError, UnicodeDecodeError):
                    text = ""
                if "-----BEGIN" not in text:
                    raise FailsyncError(f"kubeconfig {where}: {section} entry {name!r}: {key} is not base64 of a "
                                        f"PEM {'key' if 'key' in key else 'certificate'}; expected the output of "
                                        f"base64 -w0 on a PEM file")


#: Where the in-cluster service account's token, namespace and CA are mounted.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Credential:
    """A certificate or key named by a kubeconfig: a file (``x``) or base64 data (``x-data``)."""

    __slots__ = ("path", "data")

    def __init__(self, path: str | None = None, data: bytes | None = None) -> None:
        self.path, self.data = path, data

    def bytes(self) -> bytes:
        """The PEM content."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return Path(self.path).read_bytes()


@dataclass
class KubeConfig:
    """The merged kubeconfig document, the chosen context and its cluster and user entries."""

    doc: dict[str, Any]
    current_context: str
    cluster: dict[str, Any]
    user: dict[str, Any]
    namespace: str = "default"
    filepath: Path | None = None
    _pykube: Any = field(default=None, repr=False)

    @property
    def server(self) -> str:
        """The API server URL (kubectl's default when the cluster names none)."""
        return str(self.cluster.get("server") or "http://localhost")

    def credential(self, section: str, key: str) -> Credential | None:
        """The ``key`` (or ``key-data``) of the chosen cluster (``section`` "cluster") or user."""
        entry = self.cluster if section == "cluster" else self.user
        if entry.get(f"{key}-data") is not None:
            import base64

            return Credential(data=base64.b64decode(str(entry[f"{key}-data"])))
        if isinstance(entry.get(key), str):
            return Credential(path=entry[key])
        return None

    def pykube(self) -> "pykube.KubeConfig":
        """pykube-ng's configuration of the same document and context (imported on first use)."""
        if self._pykube is None:
            import pykube

            config = pykube.KubeConfig(self.doc, current_context=self.current_context)
            config.filepath = self.filepath
            self._pykube = config
        return self._pykube


def _service_account(directory: Path | None = None) -> KubeConfig:
    """The in-cluster configuration, as pykube-ng's ``from_service_account`` builds it."""
    directory = directory or SERVICE_ACCOUNT_DIR
    token = (directory / "token").read_text()
    namespace = (directory / "namespace").read_text()
    host = os.environ.get("PYKUBE_KUBERNETES_SERVICE_HOST")
    host = os.environ["KUBERNETES_SERVICE_HOST"] if host is None else host
    port = os.environ.get("PYKUBE_KUBERNETES_SERVICE_PORT")
    port = os.environ["KUBERNETES_SERVICE_PORT"] if port is None else port
    netloc = f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"
    cluster = {"server": f"https://{netloc}", "certificate-authority": str(directory / "ca.crt")}
    user = {"token": token}
    doc = {"clusters": [{"name": "self", "cluster": cluster}], "users": [{"name": "self", "user": user}],
           "contexts": [{"name": "self", "context": {"cluster": "self", "user": "self", "namespace": namespace}}],
           "current-context": "self"}
    return KubeConfig(doc, "self", dict(cluster), dict(user), namespace)


def _chosen_entries(doc: Mapping[str, Any], context: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The cluster and user entries of ``context`` and its namespace; KeyError naming what is missing."""
    chosen = next(item["context"] for item in doc["contexts"] if item["name"] == context)
    if "cluster" not in chosen:
        raise KeyError("the context names no cluster")
    clusters = {item["name"]: item["cluster"] for item in doc["clusters"]}
    if str(chosen["cluster"]) not in clusters:
        raise KeyError(f"no clusters entry {str(chosen['cluster'])!r}")
    users = {item["name"]: item["user"] for item in doc["users"]}
    cluster = dict(clusters[str(chosen["cluster"])])
    user = dict(users.get(str(chosen.get("user", "")), {}))
    for entry, keys in ((cluster, ("certificate-authority",)), (user, ("client-certificate", "client-key"))):
        for key in keys:
            if entry.get(f"{key}-data") is None and isinstance(entry.get(key), str) \
                    and not Path(entry[key]).is_file():
                raise KeyError(f"{key} file {entry[key]!r} does not exist")
    return cluster, user, str(chosen.get("namespace") or "default")


def load_config(kubeconfig: str | Path | None, context: str | None = None) -> KubeConfig:
    """The configuration of a kubeconfig (one file, or a ``$KUBECONFIG`` list merged as kubectl
    merges it) and context, or in-cluster when ``kubeconfig`` is None."""
    if kubeconfig is None:
        try:
            config = _service_account()
        except (FileNotFoundError, KeyError) as error:
            raise FailsyncError("no Kubernetes configuration: pass --kubeconfig, set $KUBECONFIG, create "
                                "~/.kube/config, or run inside a cluster with a service account") from error
        if context:
            raise FailsyncError(f"--context {context} needs a kubeconfig file; none was found")
        return config
    files = kubeconfig_files(kubeconfig)
    path = files[0]
    where = str(path) if len(files) == 1 else f"$KUBECONFIG ({os.pathsep.join(map(str, files))})"
    doc = merge_kubeconfigs(files)
    if not doc["contexts"]:
        raise FailsyncError(f"kubeconfig {where} has no contexts")
    names = [item["name"] for item in doc["contexts"]]
    chosen = context or doc.get("current-context")
    if not chosen:
        raise FailsyncError(f"kubeconfig {where} has no current-context; pass --context "
                            f"(available: {', '.join(names)})")
    if chosen not in names:
        raise FailsyncError(f"context {chosen!r} not found in kubeconfig {where} "
                            f"(available: {', '.join(names)})")
    try:
        cluster, user, namespace = _chosen_entries(doc, chosen)
    except KeyError as error:
        raise FailsyncError(f"context {chosen!r} in kubeconfig {where} is incomplete: "
                            f"{safe_text(redact_urls(str(error.args[0])))}") from error
    _check_pem_data(doc, where, chosen)
    return KubeConfig(doc, chosen, cluster, user, namespace, next((file for file in files if file.exists()), path))
