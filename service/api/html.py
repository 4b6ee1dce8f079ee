"""HTML served by Briefing itself: the demo page, the widget script, and the reading page.

The reading page is built with every piece of article text escaped, and is served with a
Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources

from corpus.article import Article

# The demo page runs only the widget from its own origin and talks only to its own API.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
READ_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>
  body {{ margin: 0 auto; max-width: 720px; padding: 24px; font: 17px/1.6 Georgia, serif;
         color: #1b1b1f; background: #fff; }}
  h1 {{ font-size: 28px; line-height: 1.25; margin: 0 0 8px; }}
  .meta {{ color: #555; font: 14px/1.4 system-ui, sans-serif; margin: 0 0 24px; }}
  .text {{ white-space: pre-wrap; }}
  mark {{ background: #ffe58a; padding: 2px 0; scroll-margin-top: 40vh; }}
</style>
</head>
<body>
<article>
<h1>{title}</h1>
<p class="meta">{meta}</p>
<div class="text">{body}</div>
</article>
</body>
</html>
"""


@cache
def static_text(name: str) -> str:
    """A file shipped in ``service/api/static``."""
    return resources.files("service.api").joinpath("static", name).read_text(encoding="utf-8")


def render_article_page(article: Article, span: tuple[int, int] | None) -> str:
    """The article as a plain page; ``span`` is wrapped in ``<mark id="quote">``."""
    meta = " · ".join(x for x in (article.source, article.published, article.author) if x)
    text = article.text
    if span is None:
        body = html.escape(text)
    else:
        start, end = span
        body = (
            html.escape(text[:start])
            + '<mark id="quote">'
            + html.escape(text[start:end])
            + "</mark>"
            + html.escape(text[end:])
        )
    return _PAGE.format(
        title=html.escape(article.title), meta=html.escape(meta or "Briefing archive"), body=body
    )
