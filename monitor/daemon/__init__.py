"""The daemon: APScheduler 3.x decides *when* a feed is polled; the pipeline decides *what* polling does.

Its place in the flow: the entry point that keeps the pipeline (monitor.pipeline) running, above it and below
the CLI (``news-monitor run``). ``run`` is the running daemon as an object: it builds one job per feed from
the config, resumes each feed's recorded schedule, handles SIGINT/SIGTERM with a grace period, and runs
scheduled digests on their own worker; ``jobs`` holds the jobs themselves and the registry where they find
their daemon; ``reload`` applies a saved config (file watch or SIGHUP), recording ConfigChanged or
ConfigRejected, and changes the schedule through the interface the daemon gives it.
"""
