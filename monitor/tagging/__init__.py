"""Tagging: does an article speak of a watched topic, and why.

- ``rules``: each topic's keyword groups, exclusions and rule compiled into a ``Tagger``, which scores an
  article (the rule over its title and sentences, and its similarity to the topic's reference documents)
  and says why: the matched terms, the sentences, the dates they name;
- ``dates``: the dates a sentence refers to ("8-9 July 2024", "next Tuesday"), resolved against the
  article's publication date;
- ``retag``: stored articles replayed through the current rules, the MentionTagged/MentionRetracted events
  that differ planned and recorded (``retag``, a hot reload), and ``explain``.

Text primitives (folding, tokens, sentences, term matching) are in ``monitor.language``. Tagging imports no
other stage: the pipeline calls it for new articles, ``retag`` reads the views.
"""
