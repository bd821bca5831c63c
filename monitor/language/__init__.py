"""Language primitives shared by tagging and digests, below every stage; it imports nothing of the product.

- ``text``: folding (case, diacritics, hyphens, possessives), tokens with offsets, sentences, keyword terms
  (``Term``: a phrase of tokens, ``meet*`` prefixes, ``...`` gaps) and ``TermIndex``, which finds all of a
  topic's terms in one pass over the tokens.
- ``tfidf``: TF-IDF over words and word pairs with the numbers of scikit-learn's ``TfidfVectorizer`` for the
  settings tagging uses, and scikit-learn's English stop words shipped as data (the daemon imports no sklearn).
- ``minhash``: datasketch's MinHash signatures (its "affine32" scheme) with numpy alone.
- ``features``: what story grouping keeps of an item's text (content words, the MinHash signature).
"""
