"""pipelines/snapshot.py: a snapshot's listing by name, slices and seeded samples of it."""
import gzip
import os

import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines import snapshot

from datapaths import COMMONCRAWL


def test_a_snapshot_names_its_listing_under_the_base():
    assert snapshot.listing_path("CC-MAIN-2019-18") == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    assert snapshot.listing_path("CC-MAIN-2019-18", "warc", "s3://commoncrawl") == \
        "s3://commoncrawl/crawl-data/CC-MAIN-2019-18/warc.paths.gz"
    with pytest.raises(UserError, match="CC-MAIN-YYYY-WW"):
        snapshot.listing_path("2019-18")


def test_slices_and_samples_of_a_real_listing():
    with open(os.path.join(COMMONCRAWL, "CC-MAIN-2024-22.warc.paths.gz"), "rb") as f:
        raw = f.read()
    lines = gzip.decompress(raw).decode().split()
    paths = [f"https://data.commoncrawl.org/{line}" for line in lines]
    assert snapshot.choose(paths, "0:3") == paths[:3]
    assert snapshot.choose(paths, "-2:") == paths[-2:]
    sample = snapshot.choose(paths, None, sample=5, seed=7)
    assert sample == snapshot.choose(paths, None, sample=5, seed=7) != snapshot.choose(paths, None, sample=5, seed=8)
    assert len(sample) == 5 and sample == [p for p in paths if p in sample]  # listing order kept
    assert snapshot.choose(paths, "0:4", sample=10) == paths[:4]  # asking for more than there are: all
    with pytest.raises(UserError, match="START:END"):
        snapshot.choose(paths, "10")
    with pytest.raises(UserError, match="selects none"):
        snapshot.choose(paths, f"{len(paths)}:")


def test_tfds_known_corrupt_file_is_recognised_under_any_base():
    (path,) = snapshot.KNOWN_CORRUPT
    assert snapshot.known_corrupt(path) and snapshot.known_corrupt("https://data.commoncrawl.org/" + path)
    assert not snapshot.known_corrupt("https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/other.warc.wet.gz")
