"""The dashboard's Markdown renderer escapes first: markup in a document stays text."""

from __future__ import annotations

from roundtable.dashboard.markdown import render_markdown


def test_markup_is_rendered() -> None:
    html = render_markdown("# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n")
    assert "<h2>Title</h2>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<code>code</code>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html


def test_html_and_script_stay_text() -> None:
    html = render_markdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_only_http_links_become_links() -> None:
    html = render_markdown("[ok](https://example.org/a) [bad](javascript:alert(1))")
    assert '<a href="https://example.org/a" rel="nofollow noopener noreferrer">ok</a>' in html
    assert "javascript:" in html and 'href="javascript' not in html


def test_a_quote_cannot_leave_the_href() -> None:
    html = render_markdown('[x](https://e.org/"onmouseover="alert(1))')
    assert 'href="https://e.org/&#34;onmouseover=&#34;alert(1"' in html
    assert 'onmouseover="' not in html


def test_code_fences_are_escaped_verbatim() -> None:
    html = render_markdown("```\n<b>x</b>\n**not bold**\n```")
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;\n**not bold**</code></pre>" in html
