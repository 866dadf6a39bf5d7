"""Policy files watched while the loop runs: added, changed and deleted files take effect.

Owns: noticing changes (each file's mtime and size, compared only when inotify says a
watched directory changed, or every ``FULL_POLL_SECONDS``; where inotify is unavailable,
on every poll — no new dependency either way), re-parsing only the files that changed,
and keeping the last good version of a policy whose file now has an error (the error is
reported; the policy keeps being enforced as it was). Reading and parsing are
``failsync.loading`` and ``failsync.core.policies``; this module only tracks files.
Never does: talk to the cluster.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import struct
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from failsync.core.model import Policy
from failsync.core.policies import PolicySet, merge_policy_sets
from failsync.errors import Location, PolicyError
from failsync.loading import list_policy_files, load_policies

log = logging.getLogger(__name__)

#: With inotify, how often the files are compared anyway (a filesystem whose changes inotify misses,
#: such as NFS written from another host, still takes effect). 10,000 files one per file cost ~0.15 s a
#: comparison, which every 0.5 s poll paid before.
FULL_POLL_SECONDS = 10.0

# linux/inotify.h: what changes a directory's listing or a file's content, mode or times.
_IN_EVENTS = (0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800)  # modify attrib close_write moved
_IN_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC                           # from/to create delete *_self
_IN_IGNORED_OR_OVERFLOW = 0x8000 | 0x4000
_EVENT_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name


class _DirectoryWatch:
    """Directories watched with inotify (through libc, by ctypes); ``changed()`` reads without blocking."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc, self.fd = libc, fd
        self._watched: dict[str, int] = {}
        self._names: dict[int, frozenset[bytes] | None] = {}  # per descriptor: the names that count (None: all)
        self.complete = False  # every wanted directory is watched (else the caller compares every poll)
        weakref.finalize(self, os.close, fd)

    @classmethod
    def create(cls) -> "_DirectoryWatch | None":
        """A watch, or None where inotify is missing (not Linux, no libc symbol, no descriptors left)."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(libc, fd) if fd >= 0 else None

    def changed(self) -> bool:
        """Whether anything that matters happened in a watched directory since the last call (events
        are drained). In a directory watched for some names only (a path's parent), events naming
        other entries do not count: a log written next to the policy directory costs no comparison."""
        seen = False
        while True:
            try:
                events = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            if not events:
                return seen
            offset = 0
            while offset + _EVENT_HEADER.size <= len(events):
                descriptor, mask, _cookie, length = _EVENT_HEADER.unpack_from(events, offset)
                name = events[offset + _EVENT_HEADER.size:offset + _EVENT_HEADER.size + length].rstrip(b"\0")
                offset += _EVENT_HEADER.size + length
                names = self._names.get(descriptor)
                # An overflowed queue (no descriptor), the directory itself, or a watch gone: count it.
                seen |= names is None or not name or mask & _IN_IGNORED_OR_OVERFLOW != 0 or name in names

    def follow(self, directories: Mapping[str, frozenset[bytes] | None]) -> bool:
        """Watch exactly ``directories`` (each for the entry names given, or for everything: None);
        True when a new one was added (its contents were never seen watched)."""
        for gone in set(self._watched) - set(directories):
            descriptor = self._watched.pop(gone)
            if descriptor not in self._watched.values():  # one inode reached by two paths shares one watch
                self._libc.inotify_rm_watch(self.fd, descriptor)  # may already be gone: ignored
        added, complete = False, True
        names_now: dict[int, frozenset[bytes] | None] = {}
        for directory, names in directories.items():
            descriptor = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _IN_EVENTS)
            if descriptor < 0:
                complete = False  # unreadable, vanished, or out of watches (ENOSPC): compare every poll
                if ctypes.get_errno() not in (errno.ENOENT, errno.EACCES, errno.ENOTDIR):
                    log.debug("inotify cannot watch %s (errno %d)", directory, ctypes.get_errno())
                self._watched.pop(directory, None)
                continue
            added |= self._watched.get(directory) != descriptor
            self._watched[directory] = descriptor
            earlier = names_now.get(descriptor, frozenset())
            names_now[descriptor] = None if names is None or earlier is None else earlier | names
        self._names = names_now
        self.complete = complete
        return added


@dataclass(frozen=True)
class _File:
    stamp: tuple[int, int]          # (mtime_ns, size)
    parsed: PolicySet               # the latest parse, errors included
    kept: tuple[Policy, ...]        # what is enforced from this file: its good policies, old ones kept on error


class PolicyFiles:
    """The current policies of a set of paths; ``poll()`` picks up edits."""

    def __init__(self, paths: Sequence[str | Path], *, allow_missing: bool = False) -> None:
        self.paths = [Path(p) for p in paths]
        self.allow_missing = allow_missing
        self._files: dict[Path, _File] = {}
        self._path_errors: tuple[PolicyError, ...] = ()
        self.current = PolicySet()
        self._watch = _DirectoryWatch.create()
        self._next_full = 0.0  # monotonic time of the next comparison due without an inotify event

    def _listing(self) -> tuple[list[Path], list[PolicyError]]:
        files: list[Path] = []
        errors: list[PolicyError] = []
        for path in self.paths:
            if path.is_dir():
                found, unreadable = list_policy_files(path)
                errors.extend(unreadable)  # a directory that cannot be read is an error, never skipped
                if not found and not unreadable and not self.allow_missing:
                    errors.append(PolicyError("no policy files found; expected *.yaml or *.yml files in this "
                                              "directory", Location(str(path))))
                files.extend(found)
            elif os.path.lexists(path):
                files.append(path)  # read (and reported if it is no regular file) by load_policies
            elif not self.allow_missing:
                errors.append(PolicyError("no such file or directory; expected a policy file or a directory "
                                          "of them", Location(str(path))))
        return files, errors

    def _directories(self, files: Sequence[Path]) -> dict[str, frozenset[bytes] | None]:
        """What to watch: each path's parent, for that path's own name only (it may appear, go or be
        replaced, as git-sync's symbolic link swap does); every directory below a directory path, whole
        (as listed: no hidden ones, no symbolic links); and the directory each symbolically linked file
        points into (a ConfigMap volume's files), whole."""
        parents: dict[str, set[bytes]] = {}
        whole: set[str] = set()
        for path in self.paths:
            absolute = os.path.abspath(path)
            parents.setdefault(os.path.dirname(absolute), set()).add(os.fsencode(os.path.basename(absolute)))
            if path.is_dir():
                for directory, subdirectories, _names in os.walk(path):
                    whole.add(os.path.abspath(directory))
                    subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for file in files:
            if os.path.islink(file):
                whole.add(os.path.dirname(os.path.realpath(file)))
        wanted: dict[str, frozenset[bytes] | None] = {directory: frozenset(names) for directory, names in parents.items()}
        wanted.update(dict.fromkeys(whole))
        return wanted

    def poll(self) -> bool:
        """Re-read what changed on disk; True when the policies or their errors changed."""
        watch = self._watch
        if watch is not None:
            if watch.complete and not watch.changed() and time.monotonic() < self._next_full:
                return False  # no event in any watched directory: nothing to compare
            self._next_full = time.monotonic() + FULL_POLL_SECONDS
        changed = self._compare()
        if watch is not None and watch.follow(self._directories(list(self._files))):
            self._next_full = 0.0  # a directory watched only now may have changed before: compare next time
        return changed

    def _compare(self) -> bool:
        files, path_errors = self._listing()
        changed = tuple(path_errors) != self._path_errors
        self._path_errors = tuple(path_errors)
        for gone in set(self._files) - set(files):
            log.info("policy file %s was removed: its policies are no longer managed", gone)
            del self._files[gone]
            changed = True
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue  # removed between listing and stat: the next poll sees it gone
            stamp = (stat.st_mtime_ns, stat.st_size)
            previous = self._files.get(file)
            if previous is not None and previous.stamp == stamp:
                continue
            parsed = load_policies([file])
            if previous is not None and previous.parsed.errors and not parsed.errors:
                log.info("policy file %s loads again without errors: %d policies", file, len(parsed.policies))
            self._files[file] = _File(stamp, parsed, self._kept(parsed, previous))
            changed = True
        if changed:
            merged = merge_policy_sets(PolicySet(f.kept, f.parsed.errors) for f in self._files.values())
            self.current = PolicySet(merged.policies, (*self._path_errors, *merged.errors))
        return changed

    def describe(self, error: PolicyError) -> str:
        """``error`` with what happens to its policies: kept as last loaded, or not enforced (never loaded)."""
        found = self._files.get(Path(error.location.file)) if error.location else None
        if found is not None and len(found.kept) > len(found.parsed.policies):
            return f"{error} (skipped; the previous good version of this file's policies stays in force)"
        return f"{error} (skipped; no good version of it was loaded before, so nothing of it is enforced)"

    @staticmethod
    def _kept(parsed: PolicySet, previous: _File | None) -> tuple[Policy, ...]:
        """The file's good policies; on an error, also the previous version of every policy that did not parse."""
        if not parsed.errors or previous is None:
            return parsed.policies
        fresh = {p.key for p in parsed.policies}
        return (*parsed.policies, *(p for p in previous.kept if p.key not in fresh))
