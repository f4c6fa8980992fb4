"""A mail's HTML body made safe to show: no script, no event handler, nothing fetched from the network.

This is one of three layers: the cleaned HTML is also served with a CSP that forbids scripts and every
network load (``sandbox; default-src 'none'``), in an ``<iframe sandbox>`` without ``allow-scripts`` or
``allow-same-origin``. Cleaning uses nh3 (ammonia's allow-list): only formatting tags and attributes stay;
``<script>``/``<style>`` go with their content; links keep only ``mailto:``, ``cid:`` and ``#`` targets
and images only ``data:image/`` sources; inline styles keep only properties that load nothing.
"""

from __future__ import annotations

import copy

import nh3

_ATTRIBUTES: dict[str, set[str]] = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tags in ("*",):
    _ATTRIBUTES[_tags] = {"style", "dir", "lang", "title", "align", "valign", "bgcolor", "width", "height"}
_ATTRIBUTES.setdefault("td", set()).update({"nowrap"})
_ATTRIBUTES.setdefault("font", set()).update({"color", "face", "size"})

_STYLE_PROPERTIES = frozenset(
    {
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "line-height",
        "text-align",
        "text-decoration",
        "text-transform",
        "vertical-align",
        "white-space",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "border",
        "border-collapse",
        "border-color",
        "border-style",
        "border-width",
        "border-radius",
        "width",
        "max-width",
        "min-width",
        "height",
        "display",
    }
)
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "action", "background", "poster", "srcset"})


def _keep_url(tag: str, attribute: str, value: str) -> str | None:
    """Only targets that load nothing: in-page anchors, mailto: and cid: links, data: images."""
    if attribute not in _URL_ATTRIBUTES:
        return value
    target = value.strip().lower()
    if tag == "img" and attribute == "src":
        return value if target.startswith("data:image/") else None
    if tag == "a" and attribute == "href":
        return value if target.startswith(("#", "mailto:", "cid:")) else None
    return None


def clean_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(nh3.ALLOWED_TAGS) | {"font"},
        clean_content_tags={"script", "style", "template", "noscript", "title", "head"},
        attributes=_ATTRIBUTES,
        attribute_filter=_keep_url,
        url_schemes={"mailto", "cid", "data"},
        filter_style_properties=set(_STYLE_PROPERTIES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )
