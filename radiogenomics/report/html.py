"""Assembly of the self-contained HTML report: sections with embedded PNG figures and tables.

Each figure is also written beside the HTML (``figures/figNN_<name>.svg/.png/.csv``) so it
can go into a paper: an SVG with the text kept as text (editable, and checkable in a browser),
a 300 dpi PNG and the numbers it plots.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

log = logging.getLogger(__name__)


@dataclass
class Section:
    """One report section: text, figures (as data URIs), tables (written as CSV too) and notes."""

    key: str
    title: str
    text: str = ""                                   # trusted HTML written by the report code
    # (caption, data URI) or (caption, data URI, [(label, relative path), ...]) once exported
    figures: list[tuple] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame, int]] = field(default_factory=list)  # (name, frame, rows shown)
    notes: list[str] = field(default_factory=list)   # plain text: what is absent and why


def tight_bbox(fig: Figure):
    """The figure's tight bounding box (inches, with savefig's default pad), computed once for all formats."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())
    return bbox.padded(matplotlib.rcParams["savefig.pad_inches"])


def figure_to_data_uri(fig: Figure, dpi: int = 90, bbox=None) -> str:
    """Render a matplotlib figure to a base64 PNG data URI (and release it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=bbox or "tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_file_to_data_uri(path: Path, dpi: int = 90) -> str:
    """A base64 PNG data URI of the PNG at ``path`` scaled down to ``dpi`` (from the dpi it records).

    Scaling the 300 dpi file down costs a fraction of drawing the figure again.
    """
    from PIL import Image

    with Image.open(path) as image:
        source = float(image.info.get("dpi", (dpi, dpi))[0]) or dpi
        size = (max(1, round(image.width * dpi / source)), max(1, round(image.height * dpi / source)))
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS) if size != image.size else image
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", dpi=(dpi, dpi))
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


FIGURE_FILE = re.compile(r"^fig\d{2,}_[a-z0-9_]+\.(svg|png|csv)$")
# text stays text in the SVG (editable, searchable, checkable in a browser); fixed ids for stable files
_VECTOR_RC = {"svg.fonttype": "none", "svg.hashsalt": "radiogenomics"}


def figure_stem(number: int, name: str) -> str:
    """``fig03_volcano``: the file name (without extension) of figure ``number``."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "figure"
    return f"fig{number:02d}_{slug}"


def save_figure_files(fig: Figure, directory: Path, stem: str, data: pd.DataFrame | None,
                      dpi: int = 300, bbox=None) -> dict[str, Path]:
    """Write ``fig`` as ``stem.svg``, ``stem.png`` (``dpi``) and its numbers as ``stem.csv``.

    Returns
    -------
    dict
        Extension -> path written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    bbox = bbox or tight_bbox(fig)
    with matplotlib.rc_context(_VECTOR_RC):
        path = directory / f"{stem}.svg"
        fig.savefig(path, format="svg", bbox_inches=bbox, facecolor="white", metadata={"Date": None})
        written["svg"] = path
    path = directory / f"{stem}.png"
    fig.savefig(path, format="png", dpi=dpi, bbox_inches=bbox, facecolor="white")
    written["png"] = path
    if data is not None:
        path = directory / f"{stem}.csv"
        data.to_csv(path, index=False)
        written["csv"] = path
    return written


def clear_figure_files(directory: Path) -> None:
    """Remove figure files of an earlier report (only names this module writes), so none is stale."""
    if directory.is_dir():
        for path in directory.iterdir():
            if FIGURE_FILE.match(path.name):
                path.unlink()


# p-value / FDR columns: an exact 0 (a permutation floor) is shown as "< 0.001", never "0"
_P_COLUMN = re.compile(r"^(p|pvalue|p_value|p\.value|padj|adj\.p\.val|fdr|qvalue|q|\w+_p|p_\w+)$", re.I)


def table_html(frame: pd.DataFrame, max_rows: int = 20) -> str:
    """An HTML table of the first ``max_rows`` rows (numbers formatted to 4 significant digits)."""
    shown = frame.head(max_rows) if max_rows > 0 else frame

    def fmt(value: object, p_like: bool) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        if isinstance(value, float):
            return "< 0.001" if p_like and value == 0 else f"{value:.4g}"
        text = str(value)
        return text if len(text) <= 120 else text[:117] + "..."

    p_like = [bool(_P_COLUMN.match(str(c))) for c in shown.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v, p))}</td>" for v, p in zip(row, p_like)) + "</tr>"
                   for row in shown.itertuples(index=False))
    more = (f'<p class="more">{len(frame) - len(shown)} more rows in the CSV.</p>'
            if len(frame) > len(shown) else "")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
header{background:#24405f;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
nav{padding:8px 32px;background:#eef2f7;font-size:13px}nav a{margin-right:12px;color:#24405f}
main{padding:8px 32px 40px;max-width:1200px}
section{border-bottom:1px solid #ddd;padding:10px 0 18px}h2{font-size:18px;color:#24405f}
figure{display:inline-block;vertical-align:top;margin:10px 12px 10px 0;max-width:100%}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555;max-width:640px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f3f5f8}.note{background:#fff7e6;border-left:4px solid #f0ad4e;padding:6px 10px;font-size:13px;margin:6px 0}
.more,.csv{font-size:12px;color:#555}.files{display:block;margin-top:2px}.files a{color:#24405f}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c0392b;font-weight:bold}
pre{background:#f6f8fa;padding:8px;font-size:12px;overflow-x:auto}
"""

# sets data-figures on <body> to "loaded/total" once every image finished decoding, so a
# headless browser (the rendering test) can check that each embedded figure decoded
_SCRIPT = """
(function(){function check(){var imgs=document.images,n=0;for(var i=0;i<imgs.length;i++){
if(imgs[i].complete&&imgs[i].naturalWidth>0){n++;}}
document.body.setAttribute('data-figures',n+'/'+imgs.length);}
window.addEventListener('load',check);check();})();
"""


def render_html(sections: Sequence[Section], title: str, subtitle: str = "",
                csv_links: dict[str, str] | None = None) -> str:
    """The complete HTML document (no external resources).

    Parameters
    ----------
    sections
        In display order.
    csv_links
        Table name -> relative CSV path, linked under each table.
    """
    csv_links = csv_links or {}
    nav = "".join(f'<a href="#{html.escape(s.key)}">{html.escape(s.title)}</a>' for s in sections)
    parts = []
    for s in sections:
        body = [f'<section id="{html.escape(s.key)}"><h2>{html.escape(s.title)}</h2>']
        if s.text:
            body.append(s.text)
        for note in s.notes:
            body.append(f'<p class="note">{html.escape(note)}</p>')
        for caption, uri, *rest in s.figures:
            links = rest[0] if rest else []
            files = " &middot; ".join(f'<a href="{html.escape(path)}">{html.escape(label)}</a>' for label, path in links)
            body.append(f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}"
                        + (f'<span class="files">{files}</span>' if files else "") + "</figcaption></figure>")
        for name, frame, rows in s.tables:
            body.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>")
            body.append(table_html(frame, rows))
            if name in csv_links:
                body.append(f'<p class="csv">CSV: <code>{html.escape(csv_links[name])}</code></p>')
        body.append("</section>")
        parts.append("\n".join(body))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body data-figures=\"pending\"><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(parts)}</main><script>{_SCRIPT}</script></body></html>\n")
