"""The input formats' names, in the order detection tries them (each is a module of :mod:`moderation.ingest`), and
how a store's corpus file is named (:func:`moderation.store.corpus_path`).

Kept apart from the parsers and the store so that the command line lists them without importing pandas and every
parser: ``python -m moderation dashboard`` would otherwise spend seconds on imports its server process never uses.
"""

INGEST_FORMATS = ("stackexchange", "gnm", "disqus", "reddit", "hackernews", "canonical", "page")
CORPUS_ENV = "MODERATION_CORPUS"  # the corpus file of a store that is not an SQLite file (PostgreSQL)
CORPUS_SUFFIX = ".corpus.duckdb"  # an SQLite store's corpus file by default: data/moderation.corpus.duckdb
