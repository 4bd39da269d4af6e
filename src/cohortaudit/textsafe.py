"""The one escaping path for names that come from a cohort (issue 14, point 5).

Group values and column names are chosen by whoever prepared the cohort, so they are
untrusted text. Every renderer shows them through one of three functions here:

* :func:`for_markup` -- HTML (the report, its tables) and plotly (titles, axis and tick labels,
  legend entries, hover text, annotations). plotly renders a subset of HTML in every label
  (``<a href>``, ``<b>``, ``<br>``...), and decodes entities, so an escaped name shows literally.
  :func:`for_plotly` also turns ``%`` into an entity, for hover templates.
* :func:`for_matplotlib` -- static charts: ``$`` starts mathtext in matplotlib, so it is
  escaped and a name like ``$\\alpha$`` renders as typed.
* :func:`for_terminal` -- everything printed on stdout / stderr: control characters (C0, C1,
  whole ESC sequences, CR), bidirectional overrides and zero-width characters are removed, so
  a name cannot clear the screen, rewrite a line or fake a "Policy: ... 0 fail" line in a CI log.

The reportlab PDF uses :func:`for_markup` too (``Paragraph`` parses a small XML markup).
JSON and CSV outputs keep names exactly as they are: they are data, not markup.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = [
    "echo",
    "for_markdown",
    "for_markup",
    "for_plotly",
    "for_matplotlib",
    "for_terminal",
    "short_name",
    "shorten",
    "strip_controls",
]

# ESC sequences first (CSI "ESC [ ... final", OSC "ESC ] ... BEL|ESC \", two-byte "ESC x"),
# so "\x1b[2J" disappears whole instead of leaving "[2J" behind; also the 8-bit CSI / OSC.
_ESCAPE_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (title, hyperlink)
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # other ESC sequences, or a lone ESC
)
# Whitespace controls become a space (a name never starts a new line); other C0 / DEL / C1
# controls, bidi embeddings / overrides / isolates, zero-width and BOM characters vanish.
_LINE_CONTROLS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]")
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
    "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


def strip_controls(s: Any, *, keep_newlines: bool = False) -> str:
    """``s`` as text without control, bidi-override or zero-width characters.

    Line breaks, tabs and carriage returns become a single space unless ``keep_newlines``
    (then ``\\n`` is kept and only the others are replaced), so a name cannot start a line.
    """
    text = _ESCAPE_SEQ.sub("", str(s))
    if keep_newlines:
        text = "\n".join(_LINE_CONTROLS.sub(" ", part) for part in text.split("\n"))
    else:
        text = _LINE_CONTROLS.sub(" ", text)
    return _INVISIBLE.sub("", text)


def for_terminal(s: Any, *, keep_newlines: bool = False) -> str:
    """Text safe to print on a terminal or into a CI log (see :func:`strip_controls`)."""
    return strip_controls(s, keep_newlines=keep_newlines)


def for_markup(s: Any) -> str:
    """Text safe inside HTML, plotly labels / hover text and reportlab Paragraph markup.

    ``& < > " '`` are escaped and control characters removed, so no name becomes a tag, an
    attribute or an entity. plotly decodes these entities, so the name shows as typed.
    """
    # numeric references for quotes: plotly.js decodes only &amp; &lt; &gt; and numeric ones
    return html.escape(strip_controls(s), quote=True).replace("&quot;", "&#34;")


def for_plotly(s: Any) -> str:
    """:func:`for_markup`, and ``%`` as ``&#37;`` so a name cannot inject a ``%{...}``
    placeholder into a hover template (plotly decodes the entity after filling templates)."""
    return for_markup(s).replace("%", "&#37;")


# The characters that open markdown constructs mid-line (emphasis, code, links and images,
# Streamlit's :colour[...] directives, $ math, HTML, tables, strikethrough, headings); list and
# quote markers only matter at the start of the text.
# ("_" only at a word boundary: CommonMark never reads an intraword "_" as emphasis, so
# total_chol stays as typed.)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>$~|&#]|(?<!\w)_|_(?!\w))")
_MARKDOWN_LEADING = re.compile(r"^(\s*)(>|[-+](?=\s|$)|\d+[.)](?=\s|$))")


def for_markdown(s: Any) -> str:
    """Text that Streamlit's markdown shows literally: the characters that start markdown are
    backslash-escaped (CommonMark allows it), so no name becomes a link, emphasis, ``$`` math,
    a ``:colour[...]`` directive, a heading or HTML; controls removed. Ordinary punctuation
    (``-``, ``.``, ``:``) stays as it is, so names read as typed."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", strip_controls(s))
    return _MARKDOWN_LEADING.sub(
        lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text
    )


#: A chart label longer than this is cut: a 3,000-character group name would otherwise push
#: the plot off the figure. The JSON keeps every name in full.
CHART_LABEL_CHARS = 80


def shorten(s: str, limit: int) -> str:
    """``s`` cut to ``limit`` characters, ending in an ellipsis when it was cut."""
    return s if len(s) <= limit else s[: max(limit - 1, 0)].rstrip() + "…"


#: A name (group value, column) in a sentence is cut to this many characters, so that one
#: 3,000-character name cannot fill the report's one-page summary. Data (JSON attributes,
#: CSV tables) keeps names in full.
NAME_CHARS = 80


def short_name(s: Any) -> str:
    """A cohort name for prose: cut to :data:`NAME_CHARS` characters (see :func:`shorten`)."""
    return shorten(str(s), NAME_CHARS)


def for_matplotlib(s: Any, *, limit: int = CHART_LABEL_CHARS) -> str:
    """Text that matplotlib draws literally: ``$`` (mathtext) escaped, controls removed, and
    cut to ``limit`` characters (a label, not a paragraph)."""
    return shorten(strip_controls(s), limit).replace("$", r"\$")


def echo(text: Any = "", *, file: Any = None) -> None:
    """``print`` for the CLI: every line passes :func:`for_terminal` (line breaks kept).

    Names inside ``text`` should already have gone through :func:`for_terminal` (which turns
    their line breaks into spaces); this is the last guard for anything printed.
    """
    print(for_terminal(text, keep_newlines=True), file=file)
