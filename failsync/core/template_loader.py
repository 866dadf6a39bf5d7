"""Where templates come from: by plain file name, from the override directory or the built-in ones.

Owns: the rule that a template (and whatever it ``{% include %}``s or ``{% import %}``s) is
a file name, nothing more: no absolute path, no directory part, no ``..``, no symlink
leading out of the override directory. Templates are code from the repository; this is
what keeps them from reading the machine (``/etc/passwd``, ``/proc/self/environ``, a
kubeconfig or a service-account token).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from failsync.errors import TemplateError

_TEMPLATE_PACKAGE = "failsync.templates"
# A template is named by a plain file name: no directory part, no "..", nothing absolute.
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_MAX_TEMPLATE_BYTES = 1024 * 1024


def _refused(name: str) -> str | None:
    """Why ``name`` may not be loaded as a template, or None."""
    if not _TEMPLATE_NAME.match(name) or ".." in name:
        return (f"template name {name!r} refused: templates are loaded by file name from the template "
                f"directories only (no absolute paths, directories or '..')")
    return None


class TemplateLoader(jinja2.BaseLoader):
    """Templates by plain file name: from the override directory (regular files inside it, symlinks
    not leading out), else the built-in ones. Nothing else on the machine can be read, whatever a
    template's ``{% include %}``/``{% import %}`` asks for."""

    def __init__(self, overrides: Path | None) -> None:
        self.overrides = overrides.resolve() if overrides is not None else None

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        problem = _refused(template)
        if problem is not None:
            raise TemplateError(problem)
        if self.overrides is not None:
            found = self._override(template)
            if found is not None:
                # A file name marks the template as the user's (its output is checked after every
                # render); built-in templates have none.
                return found, str(self.overrides / template), lambda: True
        try:
            source = resources.files(_TEMPLATE_PACKAGE).joinpath(template).read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise jinja2.TemplateNotFound(template) from None
        return source, None, lambda: True

    def _override(self, name: str) -> str | None:
        assert self.overrides is not None
        path = (self.overrides / name).resolve()
        if path.parent != self.overrides or not path.is_file():
            return None  # missing, or a symlink leading out of the directory: not a template here
        with path.open("rb") as stream:
            data = stream.read(_MAX_TEMPLATE_BYTES + 1)
        if len(data) > _MAX_TEMPLATE_BYTES:
            raise TemplateError(f"template {name} is larger than 1 MiB")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TemplateError(f"template {name} is not UTF-8 text ({error.reason})") from None
