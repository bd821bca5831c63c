"""The review page's verdict buttons: "Reject" (the tag is wrong: it leaves the page and every digest) and
"Accept" (the article is relevant) on each item.

    POST /judge   form fields ``item=article_id|topic|position``, ``verdict=reject|accept``, ``note`` (optional);
                  then 303 back to the same filtered page

The same rules as "mark reviewed" (monitor.web.auth): with a token configured the write needs it, and a POST
whose ``Origin`` or ``Referer`` names another host is refused. The item must name a tag the page could have
shown; the verdict is recorded by ``monitor.views.verdicts.judge`` as ``MentionJudged``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from monitor.events.catalogue import VERDICTS
from monitor.views.verdicts import judge
from monitor.web.filters import parse_filters

if TYPE_CHECKING:
    from monitor.web.app import WebState

MAX_NOTE = 2000  # characters: a note says why, it is not an essay


def add_verdict_routes(app: FastAPI, state: WebState) -> None:
    """Register ``POST /judge`` on ``app``."""
    from monitor.web.app import BadRequest, _run, check_known, parse_items

    @app.post("/judge")
    async def judge_item(request: Request) -> Response:
        form = await request.form(max_fields=10)
        _, query = parse_filters(request.query_params)
        state.auth.check_write(request)
        verdict = str(form.get("verdict") or "")
        if verdict not in VERDICTS:
            raise BadRequest(f"verdict: expected reject or accept, got {verdict[:40]!r}")
        note = " ".join(str(form.get("note") or "").split())[:MAX_NOTE] or None
        refs = parse_items([str(v) for v in form.getlist("item")])
        if len(refs) != 1:
            raise BadRequest("item: a verdict judges exactly one item")

        def record() -> Any:
            state.catch_up()
            check_known(state, refs)
            article_id, topic, _ = refs[0]
            return judge(state.log, article_id, topic, verdict, note=note, source="web")

        judged = await _run(record)
        notice = f"{verdict}ed" if judged.recorded else "unchanged"
        return RedirectResponse("/?" + urlencode({**query, "judged": notice}), status_code=303)
