"""Ingest: from a feed's URL to entries and article texts, under limits and deadlines.

Its place in the flow: the pipeline calls ``fetch`` (httpx with size and time limits, conditional GET, bounded
decoding) guarded by ``guard`` (private addresses refused after DNS, on every hop), hands the bytes to ``parse``
(feedparser for RSS/Atom/RDF, pydantic for JSON Feed; it never fetches), then fetches each new entry's page and
``extract``s its text (trafilatura on our bytes; else the feed's own text). ``policy`` decides when a feed is
polled next (adaptive interval, ttl, max-age, Retry-After, backoff). Ingest imports no other stage.
"""
