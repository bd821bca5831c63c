"""Ask a running review page for its health (``news-monitor health --url``): what a container's healthcheck
uses, since the slim image has no curl. The answer is the page's own ``/healthz`` (monitor.views.health), so a
page that does not answer, or answers 503, is unhealthy, with the reason it gave."""

from __future__ import annotations

import httpx

from monitor.views.health import Health


def probe(url: str, timeout: float = 5.0) -> Health:
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return Health(False, f"{url} did not answer: {type(exc).__name__}: {' '.join(str(exc).split())}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if response.status_code != 200:
        return Health(False, f"{url} answered {response.status_code}: {reason or response.reason_phrase}")
    return Health(True, f"{url}: {reason or 'ok'}")
