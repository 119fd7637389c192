"""`python -m cleancrawl ...`: the `cleancrawl` command."""
import sys

from cleancrawl.cli import main

sys.exit(main())
