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
# A whole tag of the markup a shop's editor writes, opening, closing or empty (`<p>`, `</p>`, `<br/>`, `<a href="…">`),
# or a comment; never a lone `<` or `>` ('<3', 'A > B') nor words in angle brackets ('USB cable <Type C>').
HTML_TAG = re.compile(
    r"<!--.*?-->|</?(?:a|b|br|div|em|font|h[1-6]|hr|i|img|li|ol|p|small|span|strong|sub|sup|table|tbody|td|th|"
    r"thead|tr|u|ul)\b(?:\s[^<>]*)?/?>",
    re.DOTALL | re.IGNORECASE,
)
# A script or a style sheet, whose content a page never shows.
SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)


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
    """The text as a page shows it: its escapes read, then each tag read as a space and scripts and style sheets
    left out ('<p>Tom &amp; Jerry</p>' → ' Tom & Jerry '). Escapes first: a feed converted from XML escapes its
    markup too ('&lt;p&gt;')."""
    return HTML_TAG.sub(" ", SCRIPT_OR_STYLE.sub(" ", unescaped_html(text)))
