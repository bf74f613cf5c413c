"""Exact decimals as integers in units of 1e-8, the finest precision Binance Spot uses.

Prices and quantities never pass through floats on their way into a payload: Binance sends decimals as
strings with 8 fractional digits ("61837.63000000"), and replayed data must come out byte-identical.
"""

from __future__ import annotations

import re

E8 = 100_000_000
_DECIMAL = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")


def fmt8(value: int) -> str:
    """Format an e8 integer the way Binance writes decimals: always 8 fractional digits."""
    if value < 0:
        return "-" + fmt8(-value)
    return f"{value // E8}.{value % E8:08d}"


def parse_e8(text: str) -> int:
    """Parse a plain decimal string into e8 units, exactly; ValueError if it is not one or needs > 8 digits."""
    m = _DECIMAL.match(text.strip())
    if m is None:
        raise ValueError(f"not a decimal number: {text!r}")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if len(frac) > 8:
        if frac[8:].strip("0"):
            raise ValueError(f"more than 8 decimal places: {text!r}")
        frac = frac[:8]
    value = int(whole) * E8 + int(frac.ljust(8, "0"))
    return -value if sign else value


def mul_e8(a: int, b: int) -> int:
    """Product of two e8 numbers in e8 units, rounded half up (quote volume = price x qty)."""
    return (a * b + E8 // 2) // E8


def round_to(value: int, unit: int) -> int:
    """Round an e8 value down to a multiple of `unit` (e8)."""
    return value - value % unit


def pow10_unit(gcd_value: int) -> int:
    """Largest power of ten (in e8 units, at most 1.0) dividing `gcd_value`: the tick or step a series uses."""
    unit = 1
    while unit < E8 and gcd_value % (unit * 10) == 0 and gcd_value != 0:
        unit *= 10
    return unit


def fmt_pct(change: int, base: int) -> str:
    """Percent change with 3 decimals, as Binance's priceChangePercent ("-95.960")."""
    if base == 0:
        return "0.000"
    thousandths = round(change * 100_000 / base)
    sign = "-" if thousandths < 0 else ""
    thousandths = abs(thousandths)
    return f"{sign}{thousandths // 1000}.{thousandths % 1000:03d}"
