"""The quality report as one self-contained HTML page: label box, inline SVG plots, tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.num{text-align:right;font-variant-numeric:tabular-nums}
.label{border:3px solid #333;border-radius:8px;padding:1rem;display:flex;flex-wrap:wrap;gap:1.5rem}
.label div{min-width:7rem}.label b{display:block;font-size:1.4rem}
.pass{border-color:#2e7d32}.warnings{border-color:#ef6c00}.fail{border-color:#c62828}
.status{font-size:1.2rem;font-weight:bold;text-transform:uppercase}
.error{color:#c62828}.warning{color:#ef6c00}svg text{font-size:10px;font-family:sans-serif}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f"<td class=\"num\">{escape(_fmt(c))}</td>" if i in numeric
            else f"<td>{escape(_fmt(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, unit: str = "",
              maximum: float | None = None, width: int = 640) -> str:
    """Horizontal bars, one per label, as inline SVG."""
    if not values:
        return "<p>nothing to plot</p>"
    top = maximum if maximum is not None else max(max(values), 1e-9)
    row, left, right = 16, 190, 70
    height = row * len(values) + 4
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 2 + i * row
        length = (width - left - right) * (value / top if top else 0.0)
        text = escape(label if len(label) <= 30 else "..." + label[-27:])
        bars.append(
            f'<text x="{left - 4}" y="{y + 11}" text-anchor="end">{text}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 4}" '
            f'fill="#4a78b5"><title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>'
            f'<text x="{left + length + 4:.1f}" y="{y + 11}">{escape(_fmt(value))}'
            f"{escape(unit)}</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img">{"".join(bars)}</svg>')


def histogram(edges: Sequence[int], counts: Sequence[int], *, width: int = 640,
              height: int = 180) -> str:
    """Vertical bars of a histogram (log-scaled counts) as inline SVG."""
    if not counts:
        return "<p>no CT pixel values</p>"
    logs = [math.log10(c + 1) for c in counts]
    top = max(logs) or 1.0
    left, bottom = 40, 20
    bar = (width - left) / len(counts)
    rects = []
    for i, (value, count) in enumerate(zip(logs, counts, strict=True)):
        h = (height - bottom - 4) * value / top
        rects.append(
            f'<rect x="{left + i * bar:.1f}" y="{height - bottom - h:.1f}" '
            f'width="{max(bar - 1, 0.5):.1f}" height="{h:.1f}" fill="#7a5195">'
            f"<title>{edges[i]} to {edges[i + 1]} HU: {count:,}</title></rect>")
    ticks = "".join(
        f'<text x="{left + i * bar:.1f}" y="{height - 5}" text-anchor="middle">{edges[i]}</text>'
        for i in range(0, len(edges), max(1, len(edges) // 8)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img"><text x="0" y="10">log n</text>{"".join(rects)}{ticks}</svg>')


def render(report: dict[str, Any]) -> str:
    """The whole page for a report made by ``tre.imaging.quality.assess``."""
    label = report["label"]
    name = f"{report.get('dataset') or 'dataset'}@{report.get('version') or '-'}"
    boxes = [("status", label["status"]), ("patients", label["patients"]),
             ("studies", label["studies"]), ("series", label["series"]),
             ("instances", label["instances"]), ("modalities", label["modalities"] or "-"),
             ("errors", label["errors"]), ("warnings", label["warnings"]),
             ("linkage", None if label["linkage_rate"] is None
              else f"{100 * label['linkage_rate']:.1f}%"),
             ("completeness", None if label["clinical_completeness"] is None
              else f"{label['clinical_completeness']:.1f}%"),
             ("synthetic", label["synthetic"])]
    box = "".join(f"<div>{escape(k)}<b>{escape(_fmt(v))}</b></div>" for k, v in boxes)
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Quality report {escape(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Quality report: {escape(name)}</h1>",
        f'<section class="label {escape(label["status"])}" aria-label="quality label">{box}'
        "</section>",
        "<h2>Problems</h2>",
    ]
    problems = report["problems"]
    if problems:
        parts.append(_table(["severity", "code", "detail"],
                            [[p["severity"], p["code"], p["message"]] for p in problems], set()))
    else:
        parts.append("<p>No problems found.</p>")
    series = report["series"]
    parts += [
        "<h2>Slices per series</h2>",
        bar_chart([f"{s['patient']} / {s['series'][-12:]}" for s in series],
                  [s["instances"] for s in series]),
        "<h2>Series</h2>",
        _table(["patient", "series", "modality", "instances", "matrix", "pixel spacing",
                "thickness", "step", "orientation ok", "min", "p1", "p50", "p99", "max"],
               [[s["patient"], s["series"], s["modality"], s["instances"],
                 f"{s.get('rows')}x{s.get('columns')}", s.get("pixel_spacing"),
                 s["slice_thickness"], (s.get("spacing") or {}).get("step_mm"),
                 s["orientation_consistent"]] + [
                     (s.get("values") or {}).get(k) for k in ("min", "p1", "p50", "p99", "max")]
                for s in series], {3, 9, 10, 11, 12, 13}),
        "<h2>Pixel values (CT, HU)</h2>",
        histogram(report["histogram"]["edges"], report["histogram"]["counts"]),
        "<h2>Counts by modality</h2>",
        _table(["modality", "series", "instances"],
               [[m, c["series"], c["instances"]]
                for m, c in report["counts"]["by_modality"].items()], {1, 2}),
        "<h2>Clinical table</h2>",
    ]
    clinical = report["clinical"]
    if clinical.get("present"):
        link = clinical["linkage"]
        parts += [
            f"<p>{clinical['rows']} rows; patient id column "
            f"<code>{escape(clinical['id_column'])}</code>; {link['linked']} of "
            f"{link['imaging_patients']} imaged patients linked, {link['linked']} of "
            f"{link['clinical_patients']} clinical patients imaged.</p>",
            bar_chart(list(clinical["columns"]),
                      [100.0 - c["missing_pct"] for c in clinical["columns"].values()],
                      unit="%", maximum=100.0),
            _table(["column", "missing", "missing %"],
                   [[c, v["missing"], v["missing_pct"]]
                    for c, v in clinical["columns"].items()], {1, 2}),
        ]
    else:
        parts.append("<p>This version has no clinical table.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
