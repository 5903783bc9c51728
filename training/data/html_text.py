"""HTML a web shop's export leaves in text: escapes (`Tom &amp; Jerry`) and tags (`<p>`, `<br/>`).

A title or a category written so would teach the model `amp` or `br` as words, where the API is sent plain text. The
data report names such titles and labels; extra training text (a Shopify `Body (HTML)`, never served) is read as
the page shows it.
"""

from __future__ import annotations

import html
import re

# An HTML escape ended by its `;`, and how many times over a text may have been escaped (`&amp;amp;`).
_HTML_ESCAPE = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
MAX_UNESCAPES = 3
# A whole tag, opening, closing or empty (`<p>`, `</p>`, `<br/>`, `<a href="…">`), or a comment; never a lone `<` or
# `>` ('<3', 'A > B').
HTML_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>", re.DOTALL)


def unescaped_html(text: str) -> str:
    """The text with its whole HTML escapes (`&amp;`, `&#38;`, escaped twice or more) read; never a bare `&not` or
    `&micro`, which is `&` before a word ('Ovens&microwaves')."""
    for _ in range(MAX_UNESCAPES):
        read = _HTML_ESCAPE.sub(lambda escape: html.unescape(escape.group()), text)
        if read == text:
            break
        text = read
    return text


def html_as_text(text: str) -> str:
    """The text as a page shows it: each tag read as a space, its escapes read ('<p>Tom &amp; Jerry</p>' → ' Tom &
    Jerry ')."""
    return unescaped_html(HTML_TAG.sub(" ", text))
