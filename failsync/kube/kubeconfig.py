"""Kubeconfig: which file(s), which context, and a pykube configuration from them.

Owns: ``--kubeconfig`` / ``$KUBECONFIG`` (a list ``a:b`` merged as kubectl merges it),
the in-cluster service account, choosing the context, and one-line errors for a
kubeconfig that cannot be used (never a traceback, never a secret in the message).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pykube
import yaml

from failsync.errors import FailsyncError, safe_text
from failsync.kube.errors import redact_urls
from failsync.loading import expand_path

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
        doc = yaml.safe_load(path.read_text())
    except OSError as error:
        raise FailsyncError(f"cannot read kubeconfig {path}: {error.strerror}") from error
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
                try:
                    text = base64.b64decode(str(value), validate=True).decode("ascii")
                except (ValueError, UnicodeDecodeError):
                    text = ""
                if "-----BEGIN" not in text:
                    raise FailsyncError(f"kubeconfig {where}: {section} entry {name!r}: {key} is not base64 of a "
                                        f"PEM {'key' if 'key' in key else 'certificate'}; expected the output of "
                                        f"base64 -w0 on a PEM file")


def load_config(kubeconfig: str | Path | None, context: str | None = None) -> pykube.KubeConfig:
    """The pykube configuration from a kubeconfig (one file, or a ``$KUBECONFIG`` list merged as kubectl
    merges it) and context, or in-cluster when ``kubeconfig`` is None."""
    if kubeconfig is None:
        try:
            config = pykube.KubeConfig.from_service_account()
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
    config = pykube.KubeConfig(doc, current_context=chosen)
    config.filepath = next((file for file in files if file.exists()), path)
    try:
        config.cluster  # resolves the context's cluster entry now, so errors surface here
        config.user
    except (KeyError, pykube.exceptions.PyKubeError) as error:
        raise FailsyncError(f"context {chosen!r} in kubeconfig {where} is incomplete: "
                            f"{safe_text(redact_urls(str(error)))}") from error
    _check_pem_data(doc, where, chosen)
    return config
