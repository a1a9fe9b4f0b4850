"""Listing a data folder: the image files, and every other entry with the reason it was passed
over (nothing is skipped without a word)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from evalkit.errors import printable


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a file name come back as surrogates
        return False
    return True


def _special(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device"}
    return next((text for test, text in kinds.items() if test(mode)), "not a regular file")


class Listing:
    """Walks folders below ``root``; ``ignored`` collects (path relative to root, reason)."""

    def __init__(self, root: Path, extensions: tuple[str, ...]) -> None:
        self.root = root
        self.extensions = extensions
        self.ignored: list[tuple[str, str]] = []

    def _ignore(self, path: str | Path, reason: str) -> None:
        self.ignored.append((printable(os.path.relpath(path, self.root)), reason))

    def _entries(self, folder: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            self._ignore(folder, f"cannot list the folder: {error.strerror or error}")
            return []

    def _kind(self, entry: os.DirEntry[str]) -> str:
        """``"file"``, ``"folder"``, or why the entry is passed over."""
        if not _is_utf8(entry.name):
            return "the name is not valid UTF-8; rename the file"
        if entry.name.startswith("."):
            return "hidden (its name starts with a dot)"
        try:
            mode = os.stat(entry.path).st_mode  # follows symbolic links
        except OSError as error:
            if error.errno == errno.ELOOP:
                return "a symbolic link loop"
            if entry.is_symlink():
                return "a broken symbolic link"
            return f"cannot read: {error.strerror or error}"
        if stat.S_ISDIR(mode):
            return "folder" if not entry.is_symlink() else "link"
        if not stat.S_ISREG(mode):
            return _special(mode)
        return "file"

    def _image(self, entry: os.DirEntry[str]) -> bool:
        suffix = Path(entry.name).suffix.lower()
        if suffix in self.extensions:
            return True
        self._ignore(entry.path, f"not an image type evalkit reads ({suffix or 'no extension'})")
        return False

    def class_folders(self) -> list[Path]:
        """The top-level folders; files there and links into the data root are listed."""
        folders = []
        root = self.root.resolve()
        for entry in self._entries(self.root):
            kind = self._kind(entry)
            if kind == "link" and (
                root == (target := Path(entry.path).resolve())
                or root in target.parents
                or target in root.parents
            ):
                self._ignore(
                    entry.path,
                    "a link to a folder inside or above the data root "
                    "(its images would count twice)",
                )
            elif kind in ("folder", "link"):
                folders.append(Path(entry.path))
            elif kind == "file":
                self._ignore(entry.path, "outside any class folder (ROOT/<label>/<image>)")
            else:
                self._ignore(entry.path, kind)
        return folders

    def images_below(self, folder: Path) -> list[Path]:
        """Image files anywhere below ``folder`` (links to folders are not followed)."""
        found = []
        for entry in self._entries(folder):
            kind = self._kind(entry)
            if kind == "folder":
                found += self.images_below(Path(entry.path))
            elif kind == "link":
                self._ignore(entry.path, "a link to a folder (not followed)")
            elif kind == "file":
                found += [Path(entry.path)] if self._image(entry) else []
            else:
                self._ignore(entry.path, kind)
        return sorted(found)

    def images_in(self, folder: Path) -> list[Path]:
        """Image files directly in ``folder`` (a flat folder such as ImageNet-val)."""
        found = []
        for entry in self._entries(folder):
            kind = self._kind(entry)
            if kind == "file":
                found += [Path(entry.path)] if self._image(entry) else []
            else:
                self._ignore(
                    entry.path,
                    "a folder (this format is one flat folder)"
                    if kind in ("folder", "link")
                    else kind,
                )
        return found
