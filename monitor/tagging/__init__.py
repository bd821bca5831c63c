"""Tagging: does an article speak of a watched topic, and why.

``rules`` compiles each topic's keyword groups and rules into a Tagger that scores an article, with the
matched terms, the sentences, the participants and the similarity to each reference document; ``dates`` finds
and resolves the dates a sentence refers to; ``retag`` replays stored articles through the current rules and
plans the MentionTagged/MentionRetracted events that change. Text primitives (folding, tokens, sentences,
term matching) are in ``monitor.language``. Tagging imports no other stage.
"""
