"""The report's plot kinds as inline SVG: time series, histogram, and lanes (intervals + markers) on a clock.

Long series are reduced to at most `MAX_POINTS` per line by keeping each bucket's first, minimum and
maximum point, so spikes (a latency outlier, a drawdown low) survive the reduction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from minibot.metrics.report_svg import (
    AXIS,
    GRID,
    PALETTE,
    WIDTH,
    Frame,
    attr,
    close_svg,
    empty_plot,
    fmt_num,
    fmt_time,
    legend,
    nice_ticks,
    open_svg,
    time_axis,
    y_axis,
)

MAX_POINTS = 1200


@dataclass
class Series:
    """One line: (run-clock ms, value) points in time order."""

    name: str
    points: list[tuple[int, float]]
    color: str | None = None
    fill: bool = False


@dataclass
class Marker:
    """A point event on a time axis (a STOP, a restart, a model activation)."""

    ts: int
    label: str
    color: str = "#dc2626"
    shape: str = "triangle"


@dataclass
class Lane:
    """One row of a timeline: coloured intervals (start, end, colour, label) and markers."""

    name: str
    intervals: list[tuple[int, int, str, str]] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)


def reduce_points(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most about `limit` points: per bucket the first, the lowest and the highest, in time order."""
    if len(points) <= limit:
        return points
    size = max(1, len(points) * 3 // limit)
    out: list[tuple[int, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        keep = {bucket[0], min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])}
        out.extend(sorted(keep))
    return out


def _marker_svg(marker: Marker, px: float, py: float) -> str:
    title = f"<title>{attr(marker.label)}</title>"
    if marker.shape == "diamond":
        return (
            f'<path class="mark" d="M{px:.1f} {py - 6:.1f} L{px + 6:.1f} {py:.1f} L{px:.1f} {py + 6:.1f} '
            f'L{px - 6:.1f} {py:.1f} Z" fill="{marker.color}">{title}</path>'
        )
    if marker.shape == "circle":
        return f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{marker.color}">{title}</circle>'
    return (
        f'<path class="mark" d="M{px:.1f} {py - 7:.1f} L{px + 6:.1f} {py + 5:.1f} L{px - 6:.1f} {py + 5:.1f} Z" '
        f'fill="{marker.color}">{title}</path>'
    )


def time_series(
    name: str,
    label: str,
    series: Sequence[Series],
    *,
    unit: str,
    span: tuple[int, int],
    markers: Sequence[Marker] = (),
    height: int = 260,
    y_min: float | None = None,
    empty: str | None = None,
) -> str:
    """Lines over the run's clock; vertical markers (e.g. STOPs) drawn across the plot."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return empty_plot(name, label, empty or f"no data for {label}")
    values = [v for s in drawn for _, v in s.points]
    lo = min(values) if y_min is None else min(y_min, min(values))
    hi = max(values)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    # No padding beyond a fixed floor, nor above a series that tops out at exactly 0 (drawdown).
    ticks = nice_ticks(lo - (pad if y_min is None else 0), hi + (pad if hi != 0 else 0))
    frame = Frame(span[0], max(span[1], span[0] + 1), ticks[0], ticks[-1], height)
    svg = [open_svg(name, height, label), *y_axis(frame, ticks, unit), *time_axis(frame)]
    marks = 0
    colors = []
    for index, line in enumerate(drawn):
        color = line.color or PALETTE[index % len(PALETTE)]
        colors.append(color)
        pts = reduce_points(line.points)
        coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in pts)
        if line.fill:
            base = frame.y(max(ticks[0], min(0.0, ticks[-1])))
            svg.append(
                f'<polygon points="{frame.x(pts[0][0]):.1f},{base:.1f} {coords} {frame.x(pts[-1][0]):.1f},{base:.1f}" '
                f'fill="{color}" fill-opacity="0.15" stroke="none"/>'
            )
        if len(pts) == 1:
            cx, cy = frame.x(pts[0][0]), frame.y(pts[0][1])
            svg.append(f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{color}"/>')
        else:
            svg.append(f'<polyline class="mark" points="{coords}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        marks += 1
    for marker in markers:
        px = frame.x(marker.ts)
        svg.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.top}" y2="{frame.plot_bottom}" stroke="{marker.color}" '
            'stroke-dasharray="4 3"/>'
        )
        svg.append(_marker_svg(marker, px, frame.top + 6))
        marks += 1
    if len(drawn) > 1 or markers:
        names = [s.name for s in drawn] + (["STOP"] if markers else [])
        svg.extend(legend(names, colors + (["#dc2626"] if markers else [])))
    return close_svg(svg, marks)


def histogram(
    name: str,
    label: str,
    values: Sequence[float],
    *,
    unit: str,
    bins: int = 40,
    lines: Sequence[tuple[str, float]] = (),
    empty: str | None = None,
) -> str:
    """Counts per bin from 0 to the 99th percentile, one overflow bin for the rest; labelled quantile lines."""
    if not values:
        return empty_plot(name, label, empty or f"no data for {label}")
    ordered = sorted(values)
    top = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    lo = min(0.0, ordered[0])
    top = top if top > lo else lo + 1.0
    width = (top - lo) / bins
    counts = [0] * (bins + 1)
    for v in ordered:
        counts[min(bins, int((v - lo) / width))] += 1
    height = 240
    ticks = nice_ticks(0, max(counts))
    frame = Frame(lo, top + width, 0, ticks[-1], height)
    svg = [open_svg(name, height, label), *y_axis(frame, ticks, "count")]
    svg.append(
        f'<line x1="{frame.left}" x2="{WIDTH - frame.right}" y1="{frame.plot_bottom}" y2="{frame.plot_bottom}" '
        f'stroke="{AXIS}"/>'
    )
    for tick in nice_ticks(lo, top):
        if tick <= top:
            px = frame.x(tick)
            svg.append(
                f'<text x="{px:.1f}" y="{frame.plot_bottom + 16}" text-anchor="middle" font-size="11" fill="{AXIS}">'
                f"{attr(fmt_num(tick))}</text>"
            )
    marks = 0
    for index, count in enumerate(counts):
        if not count:
            continue
        x0, x1 = frame.x(lo + index * width), frame.x(lo + (index + 1) * width)
        overflow = index == bins
        low, high = lo + index * width, lo + (index + 1) * width
        what = f">= {fmt_num(top)}" if overflow else f"{fmt_num(low)}-{fmt_num(high)}"
        svg.append(
            f'<rect class="mark" x="{x0 + 0.5:.1f}" y="{frame.y(count):.1f}" width="{max(1.0, x1 - x0 - 1):.1f}" '
            f'height="{frame.plot_bottom - frame.y(count):.1f}" fill="{"#9ca3af" if overflow else PALETTE[0]}">'
            f"<title>{attr(what)} {attr(unit)}: {count}</title></rect>"
        )
        marks += 1
    for index, (text, value) in enumerate(lines):
        px = frame.x(min(value, top + width))
        color = PALETTE[(index + 1) % len(PALETTE)]
        svg.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.top}" y2="{frame.plot_bottom}" stroke="{color}" '
            'stroke-width="1.5"/>'
        )
        # Labels near the right edge go to the left of their line, so they stay inside the plot.
        anchor, dx = ("end", -4) if px > WIDTH * 0.7 else ("start", 4)
        svg.append(
            f'<text x="{px + dx:.1f}" y="{frame.top + 12 + 13 * index}" font-size="11" fill="{color}" '
            f'text-anchor="{anchor}">{attr(text)} {attr(fmt_num(value))} {attr(unit)}</text>'
        )
    svg.append(
        f'<text x="{WIDTH - frame.right}" y="{height - 2}" text-anchor="end" font-size="10" fill="{AXIS}">'
        f"{attr(unit)} (last bar: the top 1 %)</text>"
    )
    return close_svg(svg, marks)


def timeline(
    name: str,
    label: str,
    lanes: Sequence[Lane],
    *,
    span: tuple[int, int],
    legend_items: Sequence[tuple[str, str]] = (),
    empty: str | None = None,
) -> str:
    """One row per lane: intervals as bars, markers as symbols; hover titles give the details."""
    if not lanes or not any(lane.intervals or lane.markers for lane in lanes):
        return empty_plot(name, label, empty or f"no data for {label}")
    row = 26
    height = 16 + 34 + row * len(lanes) + (18 if legend_items else 0)
    top = 16 + (18 if legend_items else 0)
    frame = Frame(span[0], max(span[1], span[0] + 1), 0, 1, height, left=130, top=top)
    svg = [open_svg(name, height, label), *time_axis(frame)]
    if legend_items:
        svg.extend(legend([n for n, _ in legend_items], [c for _, c in legend_items], x=130, y=14))
    marks = 0
    for index, lane in enumerate(lanes):
        y = top + index * row
        svg.append(
            f'<line x1="{frame.left}" x2="{WIDTH - frame.right}" y1="{y + row - 2}" y2="{y + row - 2}" '
            f'stroke="{GRID}"/>'
        )
        svg.append(
            f'<text x="{frame.left - 8}" y="{y + 15}" text-anchor="end" font-size="11" fill="#111827">'
            f"{attr(lane.name)}</text>"
        )
        for start, end, color, text in lane.intervals:
            x0, x1 = frame.x(start), frame.x(end)
            svg.append(
                f'<rect class="mark" x="{x0:.1f}" y="{y + 4}" width="{max(1.5, x1 - x0):.1f}" height="{row - 10}" '
                f'fill="{color}" rx="2"><title>{attr(text)} {fmt_time(start, span[1] - span[0])}-'
                f"{fmt_time(end, span[1] - span[0])}</title></rect>"
            )
            marks += 1
        for marker in lane.markers:
            svg.append(_marker_svg(marker, frame.x(marker.ts), y + row / 2 - 1))
            marks += 1
    return close_svg(svg, marks)
