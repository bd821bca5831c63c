"""The offline demo: ``server`` serves the bundled feeds and pages in ``data/`` from 127.0.0.1, and ``run``
polls them into a temporary log and prints the digest (``news-monitor demo``)."""
