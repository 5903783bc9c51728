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
# A whole tag of HTML, opening, closing or empty (`<p>`, `</p>`, `<br />`, `<a href="…">`, Word's `<o:p>`), its
# attributes written `name=value`, or a comment; never a lone `<` or `>` ('<3', 'A > B') nor words in angle brackets
# ('USB cable <Type C>', 'Adapter <A to B>').
HTML_TAG = re.compile(
    r"<!--.*?-->|</?(?:a|abbr|address|article|aside|b|big|blockquote|body|br|button|caption|center|cite|code|col|"
    r"colgroup|dd|del|details|dfn|div|dl|dt|em|figcaption|figure|font|footer|form|h[1-6]|head|header|hr|html|i|"
    r"iframe|img|input|ins|kbd|label|li|link|main|mark|meta|nav|noscript|ol|option|p|picture|pre|q|s|samp|section|"
    r"select|small|source|span|strike|strong|sub|summary|sup|svg|table|tbody|td|tfoot|th|thead|time|title|tr|tt|u|"
    r"ul|var|video|wbr|[a-z]+:[a-z]+)\b(?:\s[^<>]*=[^<>]*)?\s*/?>",
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
