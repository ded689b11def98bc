"""Pieces of the self-contained HTML page: figures as base64 PNG, tables, sections, the page itself."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

from nwbsyn.report._viewer import VIEWER_CSS, VIEWER_JS

__all__ = ["Section", "figure_html", "table_html", "details_html", "page_html", "new_figure", "figure_formats",
           "check_figure_path", "save_figure"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; color: #222;
       background: #f6f7f9; line-height: 1.45; }
header, section { background: #fff; margin: 16px auto; max-width: 1180px; padding: 16px 24px;
                  border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.5em; margin: 0.2em 0 0.5em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #eef1f5; }
td.text, th.text { text-align: left; }
figure { display: inline-block; vertical-align: top; margin: 10px 14px 18px 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #555; max-width: 560px; }
code, pre { font-family: Menlo, Consolas, monospace; font-size: 0.85em; }
pre { background: #f3f3f3; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
.note { color: #666; font-size: 0.9em; }
footer { text-align: center; color: #888; font-size: 0.8em; margin: 20px; }
"""


@dataclass
class Section:
    """One part of the report: an ``id`` (anchor), a title and HTML blocks."""

    id: str
    title: str
    blocks: list[str] = field(default_factory=list)
    n_figures: int = 0

    def add(self, block: str) -> None:
        self.blocks.append(block)

    def add_figure(self, fig, caption: str) -> None:
        self.blocks.append(figure_html(fig, caption))
        self.n_figures += 1

    def html(self) -> str:
        body = "\n".join(self.blocks)
        return f'<section id="{html.escape(self.id)}">\n<h2>{html.escape(self.title)}</h2>\n{body}\n</section>'


def new_figure(**kwargs):
    """A matplotlib Figure drawn off screen (Agg), not registered with pyplot."""
    from matplotlib.figure import Figure

    kwargs.setdefault("constrained_layout", True)
    return Figure(**kwargs)


def figure_formats() -> dict[str, str]:
    """File suffixes matplotlib can write (without the dot) and what each one is."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path, *, option: str = "--plot") -> str:
    """The format of a figure file named ``path`` (its suffix), or an InputError naming ``option``."""
    from pathlib import Path

    from nwbsyn._shared import InputError

    suffix = Path(path).suffix.lower().lstrip(".")
    formats = figure_formats()
    if suffix not in formats:
        raise InputError(f"The figure {path} ({option}) has {'suffix .' + suffix if suffix else 'no suffix'}, "
                         f"which matplotlib cannot write; end it in one of: {', '.join('.' + f for f in sorted(formats))}.")
    return suffix


def save_figure(fig, path, *, dpi: int = 120, atomic: bool = True) -> None:
    """Save ``fig`` to ``path`` (a file name or an OutputClaim); the format follows the suffix.

    A file name is replaced atomically unless ``atomic`` is False (a temporary file that is already claimed)."""
    from contextlib import nullcontext

    from nwbsyn.io.output import OutputClaim, claim_output

    if not atomic and not isinstance(path, OutputClaim):
        fig.savefig(path, dpi=dpi, format=check_figure_path(path, option="path"))
        return
    claim_cm = nullcontext(path) if isinstance(path, OutputClaim) else claim_output(path, overwrite=True,
                                                                                   what="figure")
    with claim_cm as claim:
        fmt = check_figure_path(claim.path)
        with claim.temporary() as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)


def figure_html(fig, caption: str, *, dpi: int = 100) -> str:
    """``<figure>`` with the figure embedded as a base64 PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _cell(value, header: bool = False) -> str:
    tag = "th" if header else "td"
    if isinstance(value, float):
        text = "–" if value != value else f"{value:.4g}"
        return f"<{tag}>{text}</{tag}>"
    if isinstance(value, int):
        return f"<{tag}>{value}</{tag}>"
    return f'<{tag} class="text">{html.escape(str(value))}</{tag}>'


def table_html(rows: list[list], header: list[str] | None, *, caption: str | None = None) -> str:
    """An HTML table (no header row when ``header`` is None); floats with 4 significant digits, NaN as a dash."""
    head = "<tr>" + "".join(_cell(h, header=True) for h in header) + "</tr>" if header else ""
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = f"<thead>{head}</thead>" if head else ""
    return f"<table>{cap}\n{head}\n<tbody>\n{body}\n</tbody></table>"


def pages_html(pages_id: str, pages: list[Section]) -> str:
    """Sections shown one at a time with previous/next buttons (all visible without JavaScript)."""
    body = "".join(f'<div class="page">{"".join(p.blocks)}</div>' for p in pages)
    bar = ('<div class="vbar"><button data-a="prev">&larr; page</button><span class="vinfo"></span>'
           '<button data-a="next">page &rarr;</button></div>') if len(pages) > 1 else ""
    return f'<div class="pages" id="{html.escape(pages_id)}">{bar}{body}</div>'


def details_html(summary: str, text: str) -> str:
    """A collapsed block of preformatted text (e.g. JSON parameters)."""
    return f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>"


def page_html(title: str, header_blocks: list[str], sections: list[Section], footer: str) -> str:
    """The whole page: inline CSS, a header with a table of contents, the sections."""
    nav = " ".join(f'<a href="#{html.escape(s.id)}">{html.escape(s.title)}</a>' for s in sections)
    head = "\n".join(header_blocks)
    body = "\n".join(s.html() for s in sections)
    interactive = any(f'class="{c}"' in body for c in ("viewer", "gallery", "pages"))
    css = _CSS + (VIEWER_CSS if interactive else "")
    script = f"<script>{VIEWER_JS}</script>\n" if interactive else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
            f'<header id="header">\n<h1>{html.escape(title)}</h1>\n{head}\n<nav>{nav}</nav>\n</header>\n'
            f"{body}\n<footer>{html.escape(footer)}</footer>\n{script}</body>\n</html>\n")
