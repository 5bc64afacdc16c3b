"""Buffers in MiniMalloc's CSV format, for ``lowmem arena``.

One header line, then one line per buffer::

    id,lower,upper,size
    a,0,3,1024
    b,2,5,512

The header names the columns ``id``, ``lower``, ``upper``, ``size`` (in any
order) and optionally ``offset``, nothing else; a buffer is live over the
half-open interval [lower, upper) of (integer) times and takes ``size``
bytes. Given offsets are ignored (they are what lowmem plans). Ids are any
non-empty text, distinct. Blank lines are skipped; fields may have spaces
around them and be quoted as in any CSV. This is the format of Google's
MiniMalloc and its "challenging" benchmark instances; MiniMalloc's older
column names (buffer, start, end: end inclusive) and its alignment and gaps
columns are not read.

:func:`read_buffers` validates as it reads: a problem raises
:class:`lowmem.ArenaError` with one line naming the file, the line number
and the column or buffer id. :func:`write_buffers` writes the same format
with an ``offset`` column, atomically. Both O(lines).
"""

import csv
import io
import os
import re
import stat
import sys

import numpy as np

from ._files import write_atomically
from ._graph import _printable
from ._offsets import ArenaError

COLUMNS = ("id", "lower", "upper", "size")
OFFSET = "offset"
# Integers as MiniMalloc reads them: ASCII digits, an optional sign (int()
# alone would also take '1_000' and non-ASCII digits).
_INTEGER = re.compile(r"[-+]?[0-9]+")
# MiniMalloc's older names for id, lower and upper ("end" inclusive).
_OLD_NAMES = ("buffer", "buffer_id", "begin", "start", "end")
# What lowmem.arena_offsets accepts for a time; sizes must also sum below 2**60.
_LIMIT = 1 << 62


def _label(path):
    return "<stdin>" if isinstance(path, str) and path == "-" else _printable(os.fsdecode(path))


def _read_text(path, label):
    """The file's text (UTF-8, a byte order mark dropped); "-" is standard
    input. Anything but a regular file is refused (a FIFO or /dev/zero
    would never end)."""
    try:
        if isinstance(path, str) and path == "-":
            data = sys.stdin.buffer.read()
        else:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                raise ArenaError(f"{label}: cannot read: is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise ArenaError(f"{label}: cannot read: not a regular file")
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise ArenaError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArenaError(f"{label}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                         f"{e.start})") from None


def _header(fields, where):
    """{column name: index} from the header line, or ArenaError."""
    expected = "expected the columns id,lower,upper,size and optionally offset"
    names = [f.strip() for f in fields]
    columns = {}
    for i, name in enumerate(names):
        if name in _OLD_NAMES:
            raise ArenaError(f"{where}: bad header: column {name!r} of MiniMalloc's older "
                             f"format is not read; name the columns id,lower,upper,size "
                             f"(upper = end + 1: a buffer is live over [lower, upper))")
        if name not in COLUMNS and name != OFFSET:
            raise ArenaError(f"{where}: bad header: unknown column {name!r} ({expected})")
        if name in columns:
            raise ArenaError(f"{where}: bad header: column {name!r} appears twice")
        columns[name] = i
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise ArenaError(f"{where}: bad header: no {missing[0]!r} column ({expected})")
    return columns


def _check_row(fields, where, n_columns, columns, first_line):
    """(id, lower, upper, size) of one buffer line, None for a blank line,
    or ArenaError saying what is wrong with it."""
    if len(fields) <= 1 and not "".join(fields).strip():
        return None
    if len(fields) != n_columns:
        raise ArenaError(f"{where}: {len(fields)} field{'s' if len(fields) != 1 else ''}, "
                         f"the header has {n_columns}")
    name = fields[columns["id"]].strip()
    if not name:
        raise ArenaError(f"{where}: empty id")
    if name in first_line:
        raise ArenaError(f"{where}: duplicate id {name!r} (first on line {first_line[name]})")
    row = [name]
    for column in COLUMNS[1:]:
        field = fields[columns[column]].strip()
        shown = field if len(field) <= 40 else field[:40] + "..."
        if not _INTEGER.fullmatch(field):
            raise ArenaError(f"{where}: buffer {name!r}: {column} {shown!r} is not an integer")
        # int() refuses 4,300 digits or more: such a number is out of range anyway.
        value = int(field) if len(field) <= 30 else _LIMIT
        if not -_LIMIT <= value < _LIMIT:
            raise ArenaError(f"{where}: buffer {name!r}: {column} {shown} is out of range "
                             f"(lowmem takes integers below 2**62 in size)")
        row.append(value)
    _, lo, up, sz = row
    if up <= lo:
        raise ArenaError(f"{where}: buffer {name!r}: upper ({up}) must be greater than "
                         f"lower ({lo}); a buffer is live over [lower, upper)")
    if sz < 0:
        raise ArenaError(f"{where}: buffer {name!r}: size {sz} is negative")
    return row


def read_buffers(path):
    """Buffers from a CSV file ("-": standard input).

    Returns (ids, lower, upper, size): ids a list of str, the others int64
    arrays, in file order. Raises ArenaError (one line: file, line number,
    column or buffer id) on a missing or unreadable file, an empty file, a
    bad header, a line with the wrong number of fields, a field that is not
    an integer (or out of range), an empty or duplicate id, upper <= lower
    or a negative size. O(lines); about 0.2 s for 100,000 buffers.
    """
    label = _label(path)
    reader = csv.reader(io.StringIO(_read_text(path, label), newline=""))
    ids, lower, upper, size = [], [], [], []
    first_line = {}
    try:
        for fields in reader:
            if len(fields) > 1 or "".join(fields).strip():
                columns = _header(fields, f"{label}, line {reader.line_num}")
                break
        else:
            raise ArenaError(f"{label}: empty file (expected a header line "
                             f"id,lower,upper,size)")
        n_columns = len(columns)
        i_id, i_lo, i_up, i_sz = (columns[c] for c in COLUMNS)
        for fields in reader:
            # Fast path: a well-formed line. Anything unusual (int() taking
            # '1_000' or non-ASCII digits included) goes to _check_row,
            # which skips a blank line or says what is wrong.
            try:
                name = fields[i_id].strip()
                lo, up, sz = int(fields[i_lo]), int(fields[i_up]), int(fields[i_sz])
                numbers = fields[i_lo] + fields[i_up] + fields[i_sz]
                good = (len(fields) == n_columns and name and name not in first_line
                        and -_LIMIT <= lo < up < _LIMIT and 0 <= sz < _LIMIT
                        and numbers.isascii() and "_" not in numbers)
            except (ValueError, IndexError):
                good = False
            if not good:
                row = _check_row(fields, f"{label}, line {reader.line_num}", n_columns,
                                 columns, first_line)
                if row is None:
                    continue
                name, lo, up, sz = row
            first_line[name] = reader.line_num
            ids.append(name)
            lower.append(lo)
            upper.append(up)
            size.append(sz)
    except csv.Error as e:
        raise ArenaError(f"{label}, line {reader.line_num}: bad CSV: {e}") from None
    return (ids, np.array(lower, dtype=np.int64), np.array(upper, dtype=np.int64),
            np.array(size, dtype=np.int64))


def write_buffers(path, ids, lower, upper, size, offsets):
    """Write buffers with their offsets to `path` as CSV: the header
    id,lower,upper,size,offset, then one line per buffer in the given
    order. Atomic: written to a temporary file beside `path`, then renamed
    over it, so `path` is never left half written. OSError on failure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + (OFFSET,))
    writer.writerows(zip(ids, (int(v) for v in lower), (int(v) for v in upper),
                         (int(v) for v in size), (int(v) for v in offsets)))
    write_atomically(path, out.getvalue().encode("utf-8"))
