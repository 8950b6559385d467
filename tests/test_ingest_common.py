"""Helpers shared by the format modules."""

import pandas as pd

from moderation.ingest.common import html_to_text


def test_html_to_text_keeps_paragraphs_links_and_entities():
    """Tags dropped, entities decoded, paragraphs and line breaks kept, link text kept; NA stays NA."""
    html = pd.Series([
        '<p>One\n<a href="x">link</a> &amp; more</p><p>two<br>lines</p><ul><li>a</li></ul>',
        "plain < text",
        "first<p>second, HN style",
        "&lt;img src=x onerror=alert(1)&gt; stays text",
        "<script>alert(1)</script>kept",
        None,
    ])
    assert html_to_text(html).tolist()[:5] == [
        "One link & more\n\ntwo\nlines\n\na",
        "plain < text",
        "first\n\nsecond, HN style",
        "<img src=x onerror=alert(1)> stays text",
        "kept",
    ]
    assert pd.isna(html_to_text(html)[5])
