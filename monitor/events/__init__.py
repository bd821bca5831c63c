"""The event catalogue: what the log can hold. Every stage writes through here.

- ``catalogue``: the name of every stored type (never renamed), one constructor per type that gives the
  event its stream and idempotency key, and ``UPCASTERS``, which lift old payloads as they are read;
- ``keys``: identity from data: canonical URLs, article ids, streams and entry keys (the same thing gets the
  same id on every poll, restart and worker);
- ``payloads``: a pydantic model per type and stored schema; every event is checked against it when it is
  appended or imported;
- ``transfer``: export and import of the log as JSON lines (idempotent by key, positions kept).
"""
