"""Language primitives shared by tagging and digests: ``text`` folds case and accents, splits tokens and
sentences, and matches terms (TermIndex). Below every stage, it imports nothing of the product."""
