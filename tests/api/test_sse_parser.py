"""The client's SSE parser on the cases the WHATWG rules spell out (no server needed)."""

from __future__ import annotations

from roundtable.client.sse import SseMessage, SseParser


def test_fields_comments_and_multiline_data() -> None:
    parser = SseParser()
    lines = [
        "retry: 2000",
        ": subscribed after 0",
        "",  # a comment-only block dispatches nothing
        "id: 7",
        "event: journal.appended",
        'data: {"a":',
        "data:1}",  # no space after the colon: the value is kept whole
        "",
        "data: no id line here",  # the last id carries over
        "",
        "id: 8",
        "event: dropped",
        "",  # no data: nothing dispatched, but the id is remembered
        "unknown: ignored",
        "data",  # a field name alone is an empty value
        "",
    ]
    messages = parser.feed_all(lines)
    assert messages == [
        SseMessage(event="journal.appended", data='{"a":\n1}', id="7", retry=2000),
        SseMessage(event="message", data="no id line here", id="7", retry=2000),
        SseMessage(event="message", data="", id="8", retry=2000),
    ]
    assert parser.comments == 1 and parser.last_id == "8"
    assert messages[0].json() == {"a": 1}
    assert messages[2].json() is None


def test_resume_point_survives_across_parsers() -> None:
    parser = SseParser(last_id="41")
    (message,) = parser.feed_all(["data: x", ""])
    assert message.id == "41"
    assert parser.feed_all(["id: bad\0id", "data: y", ""])[0].id == "41"
