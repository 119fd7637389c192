"""The `cleancrawl` console command (see cleancrawl.cli)."""
