"""Comment-discussion moderation and analytics: ingest, vote patterns, off-topic speculation, engagement."""

__version__ = "0.1.0"
