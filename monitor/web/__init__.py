"""The review web page (``news-monitor serve``): FastAPI + Jinja2, server-rendered, no JavaScript."""

from monitor.web.app import create_app, serve

__all__ = ["create_app", "serve"]
