"""Digests: what is new, for people. Reads the views (and the log), never the stages.

Its place in the flow: after the pipeline has recorded articles and mentions, a digest is built from the
read models, in this order::

    build → stories → render → publish → notify → channels

- ``build``: the mentions to show (filters, the review state, a window of log positions), with their
  articles and the feeds' health;
- ``stories``: rewrites and copies of one story grouped together;
- ``render``: text, rich text, Markdown, HTML, JSON and Atom (``render_as`` picks one by name);
- ``publish``: scheduled digests, issued once per schedule slot (``DigestIssued``), written to files, sent;
- ``notify``: the Message, sending with retries and backoff, every attempt recorded, secrets redacted, the
  webhook signature (``sign``, ``verify``);
- ``channels``: the senders: email (SMTP), webhook, Apprise.
"""
