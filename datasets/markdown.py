"""Descriptions are Markdown written by users: rendered with `markdown`, then cleaned
with `nh3` (an allow-list sanitiser), so no script, handler or style survives."""

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "abbr": {"title"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _absolute_images_only(tag: str, attribute: str, value: str) -> str | None:
    # A relative image address would make every reader's browser request a URL of the
    # portal chosen by the author; images must name their full address.
    if tag == "img" and attribute == "src" and not value.startswith(("https://", "http://")):
        return None
    return value


def render_markdown(text: str) -> SafeString:
    html = md.markdown(
        text or "", extensions=["tables", "fenced_code", "sane_lists"], output_format="html"
    )
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_absolute_images_only,
    )
    # nh3 has just sanitised it: only the allow-listed tags, attributes and URL schemes.
    return mark_safe(clean)  # noqa: S308  # nosec B308 B703
