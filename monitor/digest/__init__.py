"""Digests: what is new, for people. Reads the views, never the stages.

``build`` selects mentions (filters, the review state, the window); ``stories`` groups rewrites and copies of
one story; ``render`` writes text, markdown, HTML, JSON and Atom; ``publish`` issues scheduled digests once per
slot and writes their files; ``notify`` delivers them by email, webhook or Apprise, with retries, every attempt
recorded.
"""
