"""Language primitives shared by tagging and digests, below every stage; it imports nothing of the product.

- ``text``: folding (case, diacritics, hyphens, possessives), tokens with offsets, sentences, keyword terms
  (``Term``: a phrase of tokens, ``meet*`` prefixes, ``...`` gaps) and ``TermIndex``, which finds all of a
  topic's terms in one pass over the tokens.
"""
