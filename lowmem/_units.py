"""Byte counts as text: the one formatter every report, the CLI and the
benchmarks use (binary units throughout)."""

KiB, MiB = 2**10, 2**20
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n):
    """'4.02 MiB'; plain '512 B' below 1 KiB."""
    n = int(n)
    if abs(n) < KiB:
        return f"{n:,} B"
    value, unit = float(n), "B"
    for unit in _UNITS:
        value /= 1024
        if abs(value) < 1024:
            break
    return f"{value:.2f} {unit}"


def exact_bytes(n):
    """'4,210,880 B'."""
    return f"{int(n):,} B"


def format_bytes(n):
    """'4.01 MiB (4,202,496 B)'; plain '512 B' below 1 KiB."""
    return exact_bytes(n) if abs(int(n)) < KiB else f"{human_bytes(n)} ({exact_bytes(n)})"


def mib(n):
    """'1,234.56': mebibytes for tables in a fixed unit; '' for None."""
    return "" if n is None else f"{n / MiB:,.2f}"
