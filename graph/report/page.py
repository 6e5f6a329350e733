"""One self-contained HTML page: plotly's JavaScript, the figures and the run's data embedded, no network needed.

The page is static text plus one JSON document; the script in `assets/report.js` draws it. Data is embedded as
JSON with every `<`, `>` and `&` escaped, so no text from the run (a node name, an analysis, a program) can close
the script element or become markup.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

ASSETS = Path(__file__).parent / "assets"


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text()


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element (a non-finite number, which JSON cannot hold, becomes its text)."""
    text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def figure_json(fig: go.Figure) -> dict[str, Any]:
    """A figure as plain JSON (plotly's own encoder: numpy arrays, dates, NaN as null)."""
    return json.loads(fig.to_json())


def render_page(title: str, subtitle: str, sections: list[str], payload: dict[str, Any]) -> str:
    """The page: `sections` are HTML fragments the caller built from escaped text; `payload` is what the script
    reads (nodes, items, figures as {"id", "figure"}, status colours, live settings)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>{_asset("report.css")}</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<header><h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}</div>
<div class="sub" id="live-state"></div></header>
<main>
{"".join(sections)}
</main>
<script type="application/json" id="report-data">{embed_json(payload)}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""


def figure_divs(figures: list[tuple[str, go.Figure]], wide: bool = False) -> str:
    """Placeholders the script draws the figures into, two to a row on wide screens (`wide`: one)."""
    return f'<div class="{"wide" if wide else "grid"}">' + "".join(f'<div class="figure" id="{html.escape(fid)}"></div>'
                                          for fid, _ in figures) + "</div>"


def table(rows: list[tuple[str, str]], header: tuple[str, ...] = ()) -> str:
    """An HTML table of escaped text."""
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{html.escape(str(c))}</{'th' if i == 0 else 'td'}>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def section(title: str, body: str, section_id: str = "") -> str:
    ident = f' id="{html.escape(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{html.escape(title)}</h2>{body}</section>"
