"""A rename that never replaces a file: Linux's `renameat2(RENAME_NOREPLACE)`, one system
call, where the C library and the file system offer it; else `link` then `unlink` (POSIX:
`link` refuses an existing name). Either raises FileExistsError when the name is taken.

Names may be relative to folders opened once (descriptors): a run that moves 20,000 files
then neither joins paths nor has the kernel walk them per file."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Optional

AT_FDCWD = -100
RENAME_NOREPLACE = 1


def _load_renameat2() -> Optional[object]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2  # glibc 2.28 and later
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()
# Where the file system refused the flag (EINVAL): link + unlink there. By folder path, or
# for an opened folder by (device, inode): a descriptor's number is reused for other folders,
# where link + unlink is neither atomic nor always allowed (protected_hardlinks).
_unsupported_folders: set[tuple[Optional[int], object]] = set()


def _folder_key(target_folder: Optional[int], target: bytes) -> tuple[Optional[int], object]:
    if target_folder is None:
        return (None, os.path.dirname(target))
    info = os.fstat(target_folder)
    return (info.st_dev, info.st_ino)


def rename_without_overwrite(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
                             source_folder: Optional[int] = None, target_folder: Optional[int] = None) -> None:
    """Give `source` the name `target`, never replacing a file already there. With
    `source_folder`/`target_folder` (open folder descriptors), the names are relative to them."""
    source_bytes, target_bytes = os.fsencode(source), os.fsencode(target)
    # Looked up only once some folder refused the flag: no fstat per move otherwise.
    if _renameat2 is not None and not (_unsupported_folders and
                                       _folder_key(target_folder, target_bytes) in _unsupported_folders):
        if _renameat2(AT_FDCWD if source_folder is None else source_folder, source_bytes,
                      AT_FDCWD if target_folder is None else target_folder, target_bytes, RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), os.fsdecode(source), None, os.fsdecode(target))
        _unsupported_folders.add(_folder_key(target_folder, target_bytes))
    os.link(source_bytes, target_bytes, src_dir_fd=source_folder, dst_dir_fd=target_folder, follow_symlinks=False)
    os.unlink(source_bytes, dir_fd=source_folder)
