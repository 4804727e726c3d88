"""Directory walks: the files worth ingesting, honouring .gitignore and the user's include/exclude globs."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from core.logging import get_logger
from knowledge.loaders.files import SUPPORTED_SUFFIXES

log = get_logger(__name__)

# Never documentation, often huge: dependencies and caches.
SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__"})


@dataclass(frozen=True, slots=True)
class _IgnoreFile:
    """The patterns of one ``.gitignore``; they match paths relative to the directory holding it."""

    base: str  # that directory, relative to the walk's root ("" for the root itself)
    spec: GitIgnoreSpec

    def decides(self, relative: str, *, is_dir: bool) -> bool | None:
        """True: ignored, False: re-included by a ``!`` pattern, None: no pattern here matches."""
        local = relative[len(self.base) + 1 :] if self.base else relative
        return self.spec.check_file(local + "/" if is_dir else local).include


def iter_files(root: Path, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Yield the files under ``root`` to ingest, in sorted order, as ``root / relative path``.

    Skipped: hidden files and directories, ``node_modules`` and ``__pycache__``, whatever the ``.gitignore``
    files in the tree (at any level) ignore, and directory symlinks (never followed, so no loops). Globs are
    gitignore-style and match paths relative to ``root`` (``docs/**/*.md``, ``*.rst``): ``include`` keeps only
    matching files (default: every supported suffix), ``exclude`` drops matching files and directories.
    """
    included = GitIgnoreSpec.from_lines(include) if include else None
    excluded = GitIgnoreSpec.from_lines(exclude) if exclude else None
    yield from _walk(root, "", [], included=included, excluded=excluded)


def _walk(
    directory: Path,
    relative_dir: str,
    ignores: list[_IgnoreFile],
    *,
    included: GitIgnoreSpec | None,
    excluded: GitIgnoreSpec | None,
) -> Iterator[Path]:
    ignores = [*ignores, *_read_gitignore(directory, relative_dir)]
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as error:
        log.warning("cannot list directory; skipping it", directory=str(directory), exc_info=error)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            # A symlink to a file is read like the file; one to a directory is neither a dir nor a file here.
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            if entry.name in SKIPPED_DIRECTORIES or _ignored(relative, ignores, is_dir=True):
                continue
            if excluded is not None and excluded.match_file(relative + "/"):
                continue
            yield from _walk(Path(entry.path), relative, ignores, included=included, excluded=excluded)
        elif is_file and _wanted(relative, entry.name, ignores, included=included, excluded=excluded):
            yield Path(entry.path)


def _wanted(
    relative: str,
    name: str,
    ignores: list[_IgnoreFile],
    *,
    included: GitIgnoreSpec | None,
    excluded: GitIgnoreSpec | None,
) -> bool:
    if _ignored(relative, ignores, is_dir=False):
        return False
    if excluded is not None and excluded.match_file(relative):
        return False
    if included is not None:
        return included.match_file(relative)
    return Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def _ignored(relative: str, ignores: list[_IgnoreFile], *, is_dir: bool) -> bool:
    # As in git, the deepest .gitignore with a matching pattern has the last word.
    for ignore in reversed(ignores):
        decision = ignore.decides(relative, is_dir=is_dir)
        if decision is not None:
            return decision
    return False


def _read_gitignore(directory: Path, relative_dir: str) -> list[_IgnoreFile]:
    path = directory / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        log.warning("cannot read .gitignore; its patterns are not applied", path=str(path), exc_info=error)
        return []
    return [_IgnoreFile(relative_dir, GitIgnoreSpec.from_lines(lines))]
