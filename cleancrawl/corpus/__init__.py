"""cleancrawl's library: records, readers, extraction, filters, dedup and stats.

Nothing in this package knows about Apache Beam: every stage is a plain function or a
small class that can be called and tested on its own. `pipelines/` wraps them.
"""
