"""Inline SVG building blocks for the night report: axes with nice ticks, time labels, escaping.

Everything is drawn in Python into plain SVG text, so the report opens with no network and no script.
Each plot is an `<svg class="plot" data-plot="<name>" data-marks="<n>">`; `data-marks` is how many data
marks (lines, bars, markers) it drew, which the browser test reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH = 920
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
STATE_COLORS = {"OK": "#16a34a", "STARTING": "#60a5fa", "DEGRADED": "#f59e0b", "DOWN": "#dc2626", "STOPPING": "#6b7280"}
GRID = "#e5e7eb"
AXIS = "#6b7280"


def attr(text: object) -> str:
    """Escape for an attribute value or text node."""
    return escape(str(text), quote=True)


def nice_step(span: float, count: int) -> float:
    """A 1/2/5 x 10^k step that cuts `span` into about `count` parts."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    for _ in range(count * 3):
        ticks.append(round(value, 12))
        if value >= hi - step * 1e-9:
            break
        value += step
    return ticks if len(ticks) >= 2 else [lo, hi]


def fmt_num(value: float) -> str:
    """Compact number for axis labels."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if magnitude >= 100_000:
        return f"{value / 1000:g}k"
    if magnitude >= 100:
        return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"
    return f"{value:.4g}"


def time_step_ms(span_ms: float) -> int:
    """A clock-friendly tick step (seconds, minutes, hours) for a time axis of `span_ms`."""
    for step_s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600):
        if span_ms / (step_s * 1000) <= 8:
            return step_s * 1000
    return 43_200_000


def fmt_time(ts_ms: float, span_ms: float) -> str:
    """UTC clock time of a run-clock timestamp (seconds shown for short spans)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return moment.strftime("%H:%M:%S" if span_ms < 600_000 else "%H:%M")


@dataclass(frozen=True, slots=True)
class Frame:
    """The drawing area of one plot and its data ranges."""

    x0: float
    x1: float
    y0: float
    y1: float
    height: int
    left: int = 70
    right: int = 20
    top: int = 16
    bottom: int = 34

    def x(self, value: float) -> float:
        """Data x -> pixel."""
        span = (self.x1 - self.x0) or 1.0
        return self.left + (value - self.x0) / span * (WIDTH - self.left - self.right)

    def y(self, value: float) -> float:
        """Data y -> pixel (up is larger)."""
        span = (self.y1 - self.y0) or 1.0
        return self.height - self.bottom - (value - self.y0) / span * (self.height - self.top - self.bottom)

    @property
    def plot_bottom(self) -> float:
        """Pixel y of the x axis."""
        return float(self.height - self.bottom)


def open_svg(name: str, height: int, label: str) -> str:
    """Start a plot element."""
    return (
        f'<svg class="plot" data-plot="{attr(name)}" role="img" aria-label="{attr(label)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
    )


def close_svg(svg: list[str], marks: int) -> str:
    """Finish a plot element, recording how many data marks it holds."""
    head = svg[0].replace('role="img"', f'data-marks="{marks}" role="img"', 1)
    return "".join([head, *svg[1:], "</svg>"])


def y_axis(frame: Frame, ticks: list[float], unit: str) -> list[str]:
    """Horizontal grid lines with labels, plus the unit."""
    out = []
    for value in ticks:
        py = frame.y(value)
        out.append(f'<line x1="{frame.left}" x2="{WIDTH - frame.right}" y1="{py:.1f}" y2="{py:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{frame.left - 6}" y="{py + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS}">'
            f"{attr(fmt_num(value))}</text>"
        )
    out.append(
        f'<text x="12" y="{frame.top + (frame.height - frame.top - frame.bottom) / 2:.0f}" font-size="11" '
        f'fill="{AXIS}" transform="rotate(-90 12 {frame.top + (frame.height - frame.top - frame.bottom) / 2:.0f})" '
        f'text-anchor="middle">{attr(unit)}</text>'
    )
    return out


def time_axis(frame: Frame) -> list[str]:
    """Vertical grid lines with UTC clock labels along the bottom."""
    span = frame.x1 - frame.x0
    step = time_step_ms(span)
    out = [
        f'<line x1="{frame.left}" x2="{WIDTH - frame.right}" y1="{frame.plot_bottom}" y2="{frame.plot_bottom}" '
        f'stroke="{AXIS}"/>'
    ]
    tick = math.ceil(frame.x0 / step) * step
    for _ in range(40):
        if tick > frame.x1:
            break
        px = frame.x(tick)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.top}" y2="{frame.plot_bottom}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{px:.1f}" y="{frame.plot_bottom + 16}" text-anchor="middle" font-size="11" fill="{AXIS}">'
            f"{fmt_time(tick, span)}</text>"
        )
        tick += step
    out.append(
        f'<text x="{WIDTH - frame.right}" y="{frame.height - 2}" text-anchor="end" font-size="10" fill="{AXIS}">'
        "run clock, UTC</text>"
    )
    return out


def legend(names: list[str], colors: list[str], x: float = 80, y: float = 12) -> list[str]:
    """One row of colour keys at the top left."""
    out = []
    for name, color in zip(names, colors, strict=True):
        out.append(f'<rect x="{x:.0f}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.0f}" y="{y + 1}" font-size="11" fill="#111827">{attr(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def empty_plot(name: str, label: str, why: str, height: int = 90) -> str:
    """A placeholder saying why there is nothing to draw (0 marks)."""
    svg = [
        open_svg(name, height, label),
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{height - 2}" fill="#f9fafb" stroke="{GRID}"/>',
        f'<text x="{WIDTH / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="13" fill="{AXIS}">'
        f"{attr(why)}</text>",
    ]
    return close_svg(svg, 0)
