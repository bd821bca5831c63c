"""Identity from data: the canonical form of a URL, and the ids, streams and keys derived from it.

Every id here is a pure function of what a feed says, so that re-polling, restarts and several workers
derive the same id for the same thing, and a duplicate append is recognised as "already done":

- an article's id is the uuid5 of its canonical URL, and its stream ``article:<id>``;
- a feed's stream is ``feed:<feed name>``;
- an entry's key hashes its feed and its guid (guids are unique only within one feed).

``canonical_url`` is also what tells two configured feeds apart, so the config uses it too.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ref_src|igshid|at_medium|at_campaign)$",
                       re.IGNORECASE)


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


_ARTICLE_NAMESPACE = uuid.UUID("9b1f6c2e-5d3a-4f0e-8a47-3c2d1e0f9a88")


def article_id(canonical_url: str) -> str:
    return str(uuid.uuid5(_ARTICLE_NAMESPACE, canonical_url))


def article_stream(article: str) -> str:
    return f"article:{article}"


def feed_stream(feed: str) -> str:
    return f"feed:{feed}"


def entry_key(feed: str | None, entry_id: str | None) -> str | None:
    """A short, indexable key for a feed's entry id (guids are only unique within one feed, and may be
    longer than an index entry can be)."""
    if not entry_id:
        return None
    return hashlib.sha256(f"{feed or ''}\n{entry_id}".encode()).hexdigest()[:32]
