"""The read models: state projected from the log, never written any other way.

``tables`` defines the views' tables (feed_state, articles, mentions, review_cursor, reviewed_mentions,
timeline; ``timeline`` and ``places`` find the meetings that the mention sentences report);
``reducers`` holds their pure reducers over events and registers them, with each view's version, as
``VIEWS``; ``projections`` hands those to the view engine (``storage.projector``), which applies them a batch
at a time with each view's checkpoint in the same transaction (so a rebuild equals the live state); ``log``
opens the configured event log and its views; ``queries`` holds every read of the views, by name (the rest
of the app reads them through nothing else); ``status`` reads feed health; ``review`` records what the
analyst has reviewed. The CLI, the web page, the digest and the daemon read the views, never the stages.
"""
