"""Ingest: from a feed's URL to entries and article texts, under limits and deadlines.

Its place in the flow (the pipeline calls each step; ingest imports no other stage)::

    fetch → guard → parse → identity → extract        and policy: when next

- ``fetch``: httpx with size and time limits, conditional GET, bounded decoding, per-host limits;
- ``guard``: private and reserved addresses refused after DNS, on every hop;
- ``parse``: feedparser for RSS/Atom/RDF, pydantic for JSON Feed (it never fetches); ``fetch_feed`` gets
  and parses a feed, following an HTML page's feed link once (autodiscovery); ``parse_pool`` parses on the
  other cores while the daemon is parsing a feed already (``parse_worker`` is its workers' loop);
- ``identity``: which entries are distinct articles (entries sharing a link are told apart by guid, fragment
  or title), which are new, which revise one (``entry_hash``), which are known;
- ``extract``: each new entry's text: trafilatura on the page we fetched, in ``ExtractorPool``'s worker
  processes under a deadline and a memory cap (``worker`` is their loop), else the feed's own text;
- ``policy``: when a feed is polled next (adaptive interval, ttl, max-age, Retry-After, backoff).
"""
