"""The input formats' names, in the order detection tries them (each is a module of :mod:`moderation.ingest`).

Kept apart from the parsers so that the command line lists them without importing pandas and every parser:
``python -m moderation dashboard`` would otherwise spend seconds on imports its server process never uses.
"""

INGEST_FORMATS = ("stackexchange", "gnm", "disqus", "reddit", "hackernews", "canonical", "page")
