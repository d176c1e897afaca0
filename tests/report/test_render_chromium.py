"""The report renders in headless Chromium: a non-blank page, every embedded figure decoded, and
the figures' SVG files laid out cleanly as the browser draws them (no two text labels of the
volcano and clinical panels overlap; every numeric axis of every figure has a label).

The layout check reads each text's box from the browser (``getBBox`` mapped through the
element's screen transform, so rotated labels are compared as rotated rectangles) with the
matplotlib font (DejaVu Sans) loaded into the page, so the boxes are those of the text a reader
sees.  It is shown to fail on a figure drawn the old way (point labels offset by hand) and on a
figure with an unlabelled axis.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and Path(p).exists()), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
         "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180)


def test_report_renders_with_all_figures(built_report, tmp_path):
    result = built_report
    url = result.html_path.resolve().as_uri()
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'data-figures="(\d+)/(\d+)"', dom.stdout)
    assert match, "the report's load script did not run"
    loaded, total = map(int, match.groups())
    assert total == result.figures and total >= 15
    assert loaded == total, f"only {loaded} of {total} figures decoded"

    shot = tmp_path / "shot.png"
    run = _chromium(["--window-size=1200,2400", f"--screenshot={shot}", url], tmp_path)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    # not blank: many distinct colours and a substantial share of non-white pixels
    assert (pixels.reshape(-1, 3) < 0.95).any(axis=1).mean() > 0.05
    assert len(np.unique((pixels.reshape(-1, 3) * 255).astype(int), axis=0)) > 50


# --------------------------------------------------------------------------- layout in the browser

# For every <g> holding <text> elements (one matplotlib text artist): its lines as quads in
# page pixels, whether it is a tick label or an axis label, and of which axis.
_COLLECT = r"""
function quad(t){var b=t.getBBox(),m=t.getScreenCTM(),svg=t.ownerSVGElement,out=[];
 [[b.x,b.y],[b.x+b.width,b.y],[b.x+b.width,b.y+b.height],[b.x,b.y+b.height]].forEach(function(c){
  var p=svg.createSVGPoint();p.x=c[0];p.y=c[1];p=p.matrixTransform(m);out.push([p.x,p.y]);});return out;}
function collect(){var out=[];
 document.querySelectorAll('div.fig').forEach(function(div){var items=[];
  div.querySelectorAll('g').forEach(function(g){
   var texts=[].filter.call(g.children,function(c){return c.tagName.toLowerCase()==='text';});
   if(!texts.length)return;
   var tick=g.parentElement.closest('g[id^="xtick_"],g[id^="ytick_"]');
   var axis=g.closest('g[id^="matplotlib.axis_"]');
   var role=tick?'tick':(g.parentElement===axis?'axis_label':'text');
   items.push({id:g.id,text:texts.map(function(t){return t.textContent;}).join('\n'),role:role,
               axis:axis?axis.id:null,quads:texts.map(quad)});});
  out.push({name:div.getAttribute('data-name'),items:items});div.remove();});
 document.getElementById('result').textContent=JSON.stringify(out);}
document.fonts.load("10px 'DejaVu Sans'").then(function(){return document.fonts.ready;}).then(collect);
"""


def _page(svgs: dict[str, Path]) -> str:
    from matplotlib import get_data_path

    font = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    face = base64.b64encode(font.read_bytes()).decode("ascii")
    figs = []
    for name, path in svgs.items():
        svg = path.read_text(encoding="utf-8")
        svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inlined into HTML
        figs.append(f'<div class="fig" data-name="{html.escape(name)}">{svg}</div>')
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>"
            f"@font-face{{font-family:'DejaVu Sans';src:url(data:font/ttf;base64,{face}) format('truetype')}}"
            "body{margin:0}</style></head><body>" + "".join(figs)
            + f'<pre id="result">pending</pre><script>{_COLLECT}</script></body></html>')


def browser_text_boxes(svgs: dict[str, Path], tmp_path: Path) -> dict[str, list[dict]]:
    """Text items (``id, text, role, axis, quads``) of each SVG as headless Chromium lays them out."""
    page = tmp_path / "layout.html"
    page.write_text(_page(svgs), encoding="utf-8")
    run = _chromium(["--virtual-time-budget=20000", "--dump-dom", page.resolve().as_uri()], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    match = re.search(r'<pre id="result">(.*?)</pre>', run.stdout, re.S)
    assert match and match.group(1) != "pending", "the layout script did not run"
    return {fig["name"]: fig["items"] for fig in json.loads(html.unescape(match.group(1)))}


def _shrunk(quad: list[list[float]], by: float) -> np.ndarray:
    q = np.asarray(quad, dtype=float)
    centre = q.mean(axis=0)
    span = np.linalg.norm(q - centre, axis=1, keepdims=True)
    return centre + (q - centre) * np.clip((span - by) / np.maximum(span, 1e-9), 0, None)


def _quads_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex quadrilaterals."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            if not normal.any():
                continue
            pa, pb = a @ normal, b @ normal
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def overlapping_pairs(items: list[dict], tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of text items whose boxes overlap by more than ``tolerance`` pixels."""
    quads = [[_shrunk(q, tolerance) for q in item["quads"]] for item in items]
    pairs = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if any(_quads_overlap(a, b) for a in quads[i] for b in quads[j]):
                pairs.append((items[i]["text"], items[j]["text"]))
    return pairs


def _number(text: str) -> bool:
    try:
        float(text.replace("\u2212", "-").strip().split("\n")[0])
    except ValueError:
        return False
    return True


def unlabelled_axes(items: list[dict]) -> list[str]:
    """Axes (SVG ids) that show numeric tick labels but carry no axis label."""
    numeric = {i["axis"] for i in items if i["role"] == "tick" and _number(i["text"])}
    labelled = {i["axis"] for i in items if i["role"] == "axis_label" and i["text"].strip()}
    return sorted(numeric - labelled)


@pytest.fixture(scope="module")
def layout(built_report, tmp_path_factory):
    """Browser text boxes of every report figure plus two figures drawn to break the rules."""
    from matplotlib.figure import Figure

    from radiogenomics.report.html import save_figure_files

    tmp = tmp_path_factory.mktemp("layout")
    svgs = {stem: files["svg"] for stem, files in built_report.figure_files.items()}
    # the old volcano labelling: each gene name offset by hand from its point, clustered genes collide
    bad = Figure(figsize=(6, 4))
    ax = bad.add_subplot(111)
    rng = np.random.default_rng(3)
    x, y = 1.2 + rng.normal(0, 0.03, 10), 10 + rng.normal(0, 0.15, 10)
    ax.scatter(x, y, s=6)
    for k, (xx, yy) in enumerate(zip(x, y)):
        ax.annotate(f"GENE{k}", (xx, yy), xytext=(2, 2), textcoords="offset points", fontsize=6.5)
    ax.set_xlim(-2, 2)  # a whole volcano's range: the cluster is small on it
    ax.set_ylim(0, 12)
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel("-log10 p")
    svgs["bad_overlap"] = save_figure_files(bad, tmp, "bad_overlap", None)["svg"]
    unlabelled = Figure(figsize=(4, 3))
    ax = unlabelled.add_subplot(111)
    ax.plot([0, 1, 2], [3, 1, 2])
    ax.set_xlabel("time (days)")  # the y axis has numbers but no label
    svgs["bad_unlabelled"] = save_figure_files(unlabelled, tmp, "bad_unlabelled", None)["svg"]
    return browser_text_boxes(svgs, tmp)


def test_volcano_and_clinical_labels_do_not_overlap(layout, built_report):
    names = [n for n in layout if re.search(r"_(volcano|clinical_bar|clinical_violin)$", n)]
    assert {re.sub(r"^fig\d+_", "", n) for n in names} == {"volcano", "clinical_bar", "clinical_violin"}
    volcano = next(n for n in names if n.endswith("volcano"))
    genes = [i for i in layout[volcano] if i["role"] == "text" and re.fullmatch(r"[A-Z0-9-]+", i["text"])]
    assert len(genes) >= 8, "the volcano should name its top genes"
    for name in names:
        assert overlapping_pairs(layout[name]) == [], name
    # every panel states its p-value or why it has none
    for kind in ("clinical_bar", "clinical_violin"):
        stem = next(n for n in names if n.endswith(kind))
        variables = set(pd.read_csv(built_report.figure_files[stem]["csv"])["variable"])
        titles = {i["text"].split("\n")[0]: i["text"] for i in layout[stem] if i["role"] == "text"
                  and i["text"].split("\n")[0] in variables}
        assert set(titles) == variables
        assert all(re.search(r"\np [=<] |\nno p-value: ", t) for t in titles.values()), titles


def test_every_figure_has_axis_labels(layout):
    report = {n: items for n, items in layout.items() if n.startswith("fig")}
    assert len(report) >= 15
    problems = {n: unlabelled_axes(items) for n, items in report.items() if unlabelled_axes(items)}
    assert problems == {}
    # every figure but the two diagrams (flow chart, nomogram: their own scales) has an axis label
    plotted = [n for n in report if not re.search(r"_(cohort_flow|nomogram_\w+)$", n)]
    assert all(any(i["role"] == "axis_label" for i in report[n]) for n in plotted)


def test_layout_check_fails_on_overlaps_and_missing_labels(layout):
    pairs = overlapping_pairs(layout["bad_overlap"])
    assert len(pairs) >= 3 and all(a.startswith("GENE") and b.startswith("GENE") for a, b in pairs), pairs
    assert unlabelled_axes(layout["bad_overlap"]) == []
    assert len(unlabelled_axes(layout["bad_unlabelled"])) == 1
