"""Where templates come from: by plain file name, from the override directory or the built-in ones.

Owns: the rule that a template (and whatever it ``{% include %}``s or ``{% import %}``s) is
a file name, nothing more: no absolute path, no directory part, no ``..``, no symlink
leading out of the override directory. Templates are code from the repository; this is
what keeps them from reading the machine (``/etc/passwd``, ``/proc/self/environ``, a
kubeconfig or a service-account token).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from failsync.errors import TemplateError

if TYPE_CHECKING:
    import jinja2

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


def template_source(overrides: Path | None, name: str) -> tuple[str, str | None] | None:
    """The source of template ``name`` and its file (None: a built-in one), or None if there is none.

    From the override directory (regular files inside it, symlinks not leading out), else the
    built-in ones. Needs no Jinja2: built-in templates are compiled without it (``rendering``).
    """
    problem = _refused(name)
    if problem is not None:
        raise TemplateError(problem)
    if overrides is not None:
        found = _override(overrides, name)
        if found is not None:
            # A file name marks the template as the user's (its output is checked after every
            # render); built-in templates have none.
            return found, str(overrides.resolve() / name)
    try:
        return _builtin_source(name), None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _builtin_source(name: str) -> str:
    """A built-in template's text: read from the package's directory when it is one (importing
    importlib.resources costs ~4 ms, most of a built-in render's imports), else through it (a zip)."""
    package = importlib.import_module(_TEMPLATE_PACKAGE)
    for directory in package.__path__:
        if os.path.isdir(directory):
            with open(os.path.join(directory, name), encoding="utf-8") as stream:
                return stream.read()
    from importlib import resources

    return resources.files(_TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _override(overrides: Path, name: str) -> str | None:
    overrides = overrides.resolve()
    path = (overrides / name).resolve()
    if path.parent != overrides or not path.is_file():
        return None  # missing, or a symlink leading out of the directory: not a template here
    with path.open("rb") as stream:
        data = stream.read(_MAX_TEMPLATE_BYTES + 1)
    if len(data) > _MAX_TEMPLATE_BYTES:
        raise TemplateError(f"template {name} is larger than 1 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TemplateError(f"template {name} is not UTF-8 text ({error.reason})") from None


def template_loader(overrides: Path | None) -> jinja2.BaseLoader:
    """The Jinja2 loader of ``template_source``: templates by plain file name, nothing else on the
    machine readable, whatever a template's ``{% include %}``/``{% import %}`` asks for."""
    return _loader_class()(overrides.resolve() if overrides is not None else None)


@functools.lru_cache(maxsize=1)
def _loader_class() -> Callable[[Path | None], jinja2.BaseLoader]:
    import jinja2  # only when a template is rendered by Jinja itself

    class TemplateLoader(jinja2.BaseLoader):
        def __init__(self, overrides: Path | None) -> None:
            self.overrides = overrides

        def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
            found = template_source(self.overrides, template)
            if found is None:
                raise jinja2.TemplateNotFound(template)
            return found[0], found[1], lambda: True

    return TemplateLoader
