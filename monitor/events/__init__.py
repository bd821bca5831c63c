"""The event catalogue: what the log can hold.

``catalogue`` names every stored type (never renamed) and builds each event with its stream and idempotency
key; ``keys`` derives identity from data (canonical URLs, article ids, streams, entry keys); ``payloads`` has
a pydantic model per type and schema, and the catalogue's ``UPCASTERS`` lift old payloads as they are read;
``transfer`` exports and imports the log as JSON lines. Every stage writes through here.
"""
