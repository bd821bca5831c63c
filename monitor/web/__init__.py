"""The review web page (``news-monitor serve``): FastAPI + Jinja2, server-rendered, no JavaScript.

Its place in the flow: an entry point beside the daemon, below the CLI and above the pipeline's stages. It
reads the read models (monitor.views) and the digest (monitor.digest.build), and appends one kind of event
to the log, ``DigestReviewed``, through monitor.views.review. ``app`` has the routes and ``serve``; ``auth`` the token,
cookie, CSRF check and security headers; ``filters`` reads the filter parameters into digest Filters;
``present`` shapes items for the templates; ``metrics`` is the Prometheus exposition.
"""

from monitor.web.app import create_app, serve

__all__ = ["create_app", "serve"]
