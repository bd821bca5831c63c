"""The text of one page, and the loop of the worker processes that read pages under limits.

``extract_page`` is trafilatura on bytes we fetched (it never downloads), with our rules on what counts as an
article. ``serve`` is the loop of one of ``monitor.ingest.extract.ExtractorPool``'s worker processes: it imports
trafilatura, caps its own address space, reads warm-up pages, then extracts pages sent to it one at a time.
This module imports nothing of the app, only the standard library, trafilatura and what trafilatura brings
(lxml, htmldate), so that each worker (``spawn``: a fresh interpreter) is ready sooner. trafilatura is imported
where pages are read, not with the module: the daemon, whose pages go to the workers, imports this module for
its results' types and saves ~8 MB and ~0.4 s of its start-up (#19).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from monitor.ingest import lifeline

if TYPE_CHECKING:
    from lxml.html import HtmlElement

# trafilatura logs every page it finds too short at WARNING; those are our events, not log noise.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

# Below this many letters and digits a page's "text" is a cookie wall or a teaser, not the article. Counted
# in characters, not in space-separated words, so that it means the same in scripts without spaces between
# words (Chinese, Japanese, Thai); 80 is about 16 English words, or a short paragraph in Hindi or Russian.
MIN_PAGE_LETTERS = 80
# A worker whose address space came within this share of its cap is spent: a failed allocation is the likely
# reason its page failed, and the next page would start out short of memory.
EXHAUSTED = 0.9


@dataclass(frozen=True)
class Extraction:
    text: str
    text_source: str  # page | feed_content | feed_summary | title
    title: str
    author: str | None
    language: str | None
    published: str | None  # the date trafilatura read from the page, as it gave it

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class PageFailure:
    reason: str  # a fetch reason code; not_html, no_text, extractor_error, timeout, too_large; no_link
    message: str
    stage: str = "extract"  # fetch: no page to read (or no link); extract: the page gave no article text


def extract_page(html_bytes: bytes, url: str, content_type: str, metadata: bool = True) -> Extraction | PageFailure:
    """The article in one page, in this process (``ExtractorPool`` runs it in a worker, under limits).
    ``metadata=False``: the feed gave the title and the date, so the page's are not looked for (its title,
    author and date stay empty): they were a tenth of the time of a page, for what the feed already said."""
    if content_type and not any(kind in content_type for kind in ("html", "xml", "text/plain")):
        return PageFailure("not_html", f"{url} is {content_type}, not an HTML page")
    import trafilatura
    from trafilatura.utils import load_html

    try:
        tree = load_html(html_bytes)  # parsed once, for the metadata and the text
        if tree is None:
            return PageFailure("no_text", f"{url} is not an HTML document trafilatura can read")
        title, author, published = _metadata(tree, url) if metadata else ("", None, None)
        # Tables kept (a table is often part of the story: F1 on the scrapinghub pages is higher with them);
        # comments dropped (readers' comments are not the article). No metadata here: ``_metadata`` has it.
        document = trafilatura.bare_extraction(tree, url=url or None, with_metadata=False, include_comments=False,
                                               include_tables=True)
    except MemoryError:
        raise
    except Exception as exc:  # trafilatura raises a wide variety on hostile markup
        return PageFailure("extractor_error", f"trafilatura failed on {url}: {type(exc).__name__}: {exc}"[:300])
    if document is None:
        return PageFailure("no_text", f"no article text found on {url}")
    text = (document.text or "").strip()
    letters = sum(map(str.isalnum, text))
    if letters < MIN_PAGE_LETTERS:
        return PageFailure("no_text", f"only {letters} letters of text found on {url}")
    return Extraction(text=text, text_source="page", title=title, author=author, language=None, published=published)


def _metadata(tree: HtmlElement, url: str) -> tuple[str, str | None, str | None]:
    """The page's title, author and date, as the page declares them: its <meta> tags and JSON-LD, else its
    title element; the date from htmldate's quick search (markup, not the text). trafilatura's own metadata
    pass costs a third more CPU than the text itself, mostly in searching the body for a byline and
    in its sitename, categories, tags, licence and URL, which we never read; the author is only recorded.
    The metadata never fails a page: what cannot be read is missing."""
    from htmldate import find_date
    from trafilatura.metadata import examine_meta, extract_meta_json, extract_title

    try:
        found = examine_meta(tree)
        if found.author and " " not in found.author:  # as trafilatura does: one word is a site, not a person
            found.author = None
        found = extract_meta_json(tree, found)
        title = (found.title or extract_title(tree) or "").strip()
        # On the tree, never a string: htmldate fetches a string that looks like a URL.
        published = find_date(tree, extensive_search=False, original_date=True, url=url or None)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - metadata is optional; trafilatura's own pass swallows the same errors
        return "", None, None
    return title, found.author or None, published or None


def serve(conn: Connection, max_memory: int) -> None:
    """A worker's loop: a page in, its ``extract_page`` result out, until the pool says stop or goes away.

    Each answer says whether the worker is spent (it came within ``EXHAUSTED`` of its cap): the pool then
    replaces it. A failure on such a page is ``too_large``, because lxml and trafilatura swallow most failed
    allocations (an unparsable tree, "no text") instead of raising MemoryError."""
    # The cap is set once the imports are done.
    import htmldate  # noqa: F401
    import trafilatura.metadata  # noqa: F401
    import trafilatura.utils  # noqa: F401

    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    lifeline.hold()
    for page in _WARM_UP:  # what trafilatura loads on first use (seconds) must not count against a page's deadline
        extract_page(page, "http://localhost/warm-up", "text/html")
    gc.freeze()  # what the imports and the warm-up made lives as long as the worker: no collection walks it
    conn.send("ready")
    too_large = f"the {max_memory / 1024**2:.0f} MiB a worker may use"
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the pool's end closed: the daemon exited or was killed
            return
        except MemoryError:  # the page itself does not fit
            conn.send((PageFailure("too_large", f"the page does not fit in {too_large}"), True))
            return
        if job is None:
            return
        html_bytes, url, content_type, metadata = job
        try:
            result: Extraction | PageFailure = extract_page(html_bytes, url, content_type, metadata)
        except MemoryError:
            del job, html_bytes  # room to send the answer; then exit, as the heap may be in pieces
            conn.send((PageFailure("too_large", f"extracting {url} needed more than {too_large}"), True))
            return
        spent = _peak_memory() >= EXHAUSTED * max_memory
        if spent and isinstance(result, PageFailure):
            result = PageFailure("too_large", f"extracting {url} ran out of {too_large}")
        conn.send((result, spent))
        if spent:
            return


# A worker reads these before it says it is ready: an article (trafilatura's main path, metadata and its date
# search) and a scrap of a page (its fallbacks: readability, jusText, the baseline), each loads code lazily.
_WARM_UP = (
    ("<html lang='en'><head><title>Warm-up</title><meta name='author' content='Ann Writer'>"
     "<meta property='article:published_time' content='2025-01-02T08:00:00Z'></head><body><nav>Home</nav>"
     "<article><h1>Warm-up</h1>" + "<p>A worker reads this page before its first deadline, so that what the "
     "extractor loads on first use is loaded before any page is timed.</p>" * 3 + "</article></body></html>"
     ).encode(),
    b"<html><body><div><p>A scrap.</p></div><div>of a page</div></body></html>",
)


def _peak_memory() -> int:
    """The most address space this process has held, in bytes (Linux; 0 where /proc does not say)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


