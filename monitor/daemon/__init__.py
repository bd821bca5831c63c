"""The daemon: APScheduler 3.x decides *when* a feed is polled; the pipeline decides *what* polling does.

``run`` builds one job per feed from the config, resumes each feed's recorded schedule, handles SIGINT/SIGTERM
with a grace period, and runs scheduled digests on their own worker; ``reload`` applies a saved config (file
watch or SIGHUP), recording ConfigChanged or ConfigRejected.
"""
