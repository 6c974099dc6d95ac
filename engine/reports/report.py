"""The HTML of the reports (`evenodd run`'s and the study's): self-contained pages with
tables and embedded PNGs. The figures themselves come from engine.reports.figures.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence


def _table(rows: dict) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in rows.items()
    )
    return f"<table>{cells}</table>"


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained page; `sections` are (heading, html body) pairs."""
    body = "".join(f"<h2>{html.escape(head)}</h2>\n{content}\n" for head, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
pre {{ background: #f7f7f7; padding: 0.8em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{body}</body></html>
"""


def embed_png(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def settings_table(settings: dict) -> str:
    return _table(settings)
