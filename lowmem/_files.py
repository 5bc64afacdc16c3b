"""Files written so that a reader never sees one half written."""

import os


def write_atomically(path, data, temp_suffix=".tmp"):
    """Write `data` (bytes) to `path`: to a new temporary file beside it
    (`path`.PID.RANDOM`temp_suffix`, created exclusively, mode 0o666 less
    the umask as for any file the user writes), then renamed over `path`
    (os.replace, atomic on POSIX), so concurrent writers and readers see
    the old file or the new one. The temporary file is removed on failure;
    OSError propagates."""
    temp = f"{os.fsdecode(path)}.{os.getpid()}.{os.urandom(4).hex()}{temp_suffix}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
