"""mC4 end to end in memory (`corpus.mc4.mc4_in_memory`: URL dedup, paragraph filter, line dedup
without the sentence rule, CLD3, soft badwords, splits) against TFDS's `multilingual` config as
`tests/mc4_reference.py` composes its own functions: TFDS's own fixture and test expectations,
then real pages in many scripts (the bundled sample crawl and 134 UDHR translations, whole, cut
up, mixed, with badwords) — the same pages kept, with the same text, language and split."""
import gzip
import json
import os
from collections import Counter

import pytest
from mc4_reference import PageFeatures, load_badwords, reference_mc4, split_wet_file

from cleancrawl.corpus.badwords import soft_keep_predicate
from cleancrawl.corpus.mc4 import MC4_LANGUAGES, mc4_in_memory, split_for, split_names
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.urls import normalize_url

from datapaths import DATA_DIR, EDGE_CASES

UDHR = os.path.join(DATA_DIR, "mc4", "udhr.jsonl.gz")
FIXTURES = (os.path.join(EDGE_CASES, "tfds-c4-cc_0.warc.wet.gz"),
            os.path.join(DATA_DIR, "mc4", "tfds-c4-cc_1.warc.wet.gz"))
CLD3_NAMES = {"he": "iw", "nb": "no", "tl": "fil", "cmn": "zh"}  # UDHR's tags where CLD3 names the language otherwise


def as_document(page: PageFeatures, source_file: str, offset: int) -> Document:
    return Document(url=page.url, normalized_url=page.normalized_url, timestamp=page.timestamp, text=page.text,
                    source_file=source_file, source_offset=offset)


def as_page(doc: Document) -> PageFeatures:
    return PageFeatures(url=doc.url, normalized_url=doc.normalized_url, text=doc.text, timestamp=doc.timestamp)


def ours(docs, languages):
    """cleancrawl's mC4: {split: sorted urls} (every split TFDS names) and {url: (language, text)}."""
    kept, drops = mc4_in_memory(docs, languages=tuple(languages))
    splits = {name: [] for name in split_names(languages)}
    for d in kept:
        splits[split_for(d.language, d.normalized_url)].append(d.url)
    return {k: sorted(v) for k, v in splits.items()}, {d.url: (d.language, d.text) for d in kept}, drops


def test_tfds_multilingual_fixture():
    """TFDS c4_test.C4MultilingualTest: languages en, de; one page in each split."""
    pages = [(p, os.path.basename(path), i) for path in FIXTURES for i, p in enumerate(split_wet_file(path))]
    docs = [as_document(*args) for args in pages]
    splits, kept, drops = ours(docs, ["en", "de"])
    assert {k: len(v) for k, v in splits.items()} == {
        "en": 1, "en-validation": 1, "de": 1, "de-validation": 1, "und": 1, "und-validation": 1}
    assert splits["de-validation"] == ["http://fake.com/url/de-786"] and splits["und"] == ["http://fake.com/url/und"]
    reference_splits, reference_kept = reference_mc4([p for p, _, _ in pages], ["en", "de"])
    assert splits == reference_splits and kept == reference_kept
    assert Counter((d.stage, d.reason) for d in drops) == {
        ("url_dedup", "duplicate_url"): 1, ("paragraph_filter", "too_few_paragraphs"): 2}


def udhr_records():
    with gzip.open(UDHR, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _url(*parts):
    return "https://www.udhr.example/" + "/".join(parts)


def multilingual_corpus(sample_documents):
    """Real pages, many scripts, shaped to reach every rule of every stage."""
    records = udhr_records()
    docs = list(sample_documents)
    lists = load_badwords()

    def add(url, text, timestamp="2024-05-18T00:00:00Z"):
        docs.append(Document(url=url, normalized_url=normalize_url(url), timestamp=timestamp, text=text,
                             source_file="udhr", source_offset=len(docs)))

    for r in records:
        lines = r["text"].split("\n")
        add(_url(r["bcp47"]), r["text"])
        # the same declaration cut in three, each part under the title line (line dedup keeps it once)
        third = len(lines) // 3
        for i in range(3):
            add(_url(r["bcp47"], f"part-{i}"), "\n".join([lines[0]] + lines[1 + i * third: 1 + (i + 1) * third]))
        # an older copy of the page at the same URL with a query C4 strips: URL dedup keeps the newest
        add(_url(r["bcp47"]) + "/?utm_source=feed", "\n".join(lines[:40]), timestamp="2023-01-01T00:00:00Z")
        # short excerpts: below CLD3's 100 bytes, or few lines
        add(_url(r["bcp47"], "short"), "\n".join(lines[:4]))
    # two languages on one page, by lines: CLD3 unsure (und) or the majority
    for a, b in zip(records[::3], records[1::3]):
        la, lb = a["text"].split("\n"), b["text"].split("\n")
        mixed = [line for pair in zip(la[5:25], lb[5:25]) for line in pair]
        add(_url("mixed", a["bcp47"], b["bcp47"]), "\n".join(mixed))
    # a badword of the page's own list inside the text: dropped, except at URLs the hash keeps
    keep = soft_keep_predicate(0.999)
    for r in records:
        base = CLD3_NAMES.get(r["bcp47"].split("-")[0], r["bcp47"].split("-")[0])
        if base not in lists or not lists[base]:
            continue
        word = sorted(lists[base])[len(lists[base]) // 2]
        lines = r["text"].split("\n")
        longest = max(range(len(lines)), key=lambda i: len(lines[i]))
        lines[longest] = lines[longest] + " " + word + " " + lines[longest]
        # numbered lines, so that line dedup leaves these pages whole
        add(_url(r["bcp47"], "badword"), "\n".join(f"{k}a) {line}" for k, line in enumerate(lines)))
        soft = next(i for i in range(100_000) if keep(normalize_url(_url(r["bcp47"], f"badword-{i}"))))
        add(_url(r["bcp47"], f"badword-{soft}"), "\n".join(f"{k}b) {line}" for k, line in enumerate(lines)))
    return docs


FEW = ("en", "de", "fr", "es", "ru", "zh", "ja", "ar", "hi", "pl", "it", "nl", "tr", "sv", "cs")


@pytest.fixture(scope="module", params=[MC4_LANGUAGES, FEW], ids=["mc4", "15-languages"])
def compared(request, sample_documents):
    docs = multilingual_corpus(sample_documents)
    reference_splits, reference_kept = reference_mc4([as_page(d) for d in docs], list(request.param))
    splits, kept, drops = ours(docs, request.param)
    return docs, (reference_splits, reference_kept), (splits, kept, drops)


def test_real_multilingual_pages_same_as_tfds(compared):
    docs, (reference_splits, reference_kept), (splits, kept, drops) = compared
    assert kept.keys() == reference_kept.keys()
    for url, (language, text) in kept.items():
        assert (language, text) == reference_kept[url], url
    assert splits == reference_splits
    assert len(kept) + len(drops) == len(docs)


def test_the_comparison_reaches_every_rule(compared):
    """The corpus is not a toy: many languages kept, und, every drop reason, soft-kept badwords."""
    docs, _, (splits, kept, drops) = compared
    languages = Counter(language for language, _ in kept.values())
    few = len(splits) < 100
    assert len(languages) >= (15 if few else 70) and languages["und"] >= 5
    assert sum(1 for name, urls in splits.items() if name.endswith("-validation") and urls) >= 1
    reasons = Counter((d.stage, d.reason) for d in drops)
    expected = [("url_dedup", "duplicate_url"), ("paragraph_filter", "too_few_paragraphs"), ("badwords", "badwords"),
                ("dedup", "duplicate_lines")] + ([("cld3_langid", "ignored_language")] if few else [])
    for reason in expected:
        assert reasons[reason] >= 5, (reason, reasons)
    assert sum(1 for url in kept if "/badword-" in url) >= (10 if few else 20)  # the 0.1 % the hash keeps
    changed = sum(1 for d in docs if d.url in kept and kept[d.url][1] != d.text)
    assert changed >= 50  # line dedup rewrote pages (title lines, repeated lines)


@pytest.mark.slow
def test_recipe_mc4_build_keeps_what_tfds_composition_keeps(tmp_path, sample_documents, capsys):
    """`cleancrawl build --recipe mc4` (a Beam build of the bundled sample: paragraph filter, c4-lines
    without the sentence rule, CLD3, soft badwords, one folder per language) keeps what
    `mc4_in_memory` keeps: the same pages, text, language and split."""
    import glob

    import pyarrow.parquet as pq

    from cleancrawl import layout
    from cleancrawl.cli import main
    from cleancrawl.corpus.urls import split_for as c4_split

    out = str(tmp_path / "o")
    assert main(["build", "--recipe", "mc4", "--output", out]) == 0
    stats = layout.read_stats(out)
    assert [f["stage"] for f in stats["funnel"]] == [
        "read", "url_dedup", "paragraph_filter", "dedup", "cld3_langid", "badwords"]
    assert stats["config"]["recipe"] == "mc4" and stats["config"]["dedup"]["min_sentences"] == 0
    rows = {}
    for path in glob.glob(os.path.join(out, "*", "*", "*.parquet")):
        language, split = path.split(os.sep)[-3:-1]
        for r in pq.read_table(path).to_pylist():
            assert r["language"] == language and split == c4_split(r["normalized_url"], 1000)
            rows[r["url"]] = (r["language"], r["text"])
    kept, _ = mc4_in_memory([d for d in sample_documents if len(d.text) <= 190_000])
    assert rows == {d.url: (d.language, d.text) for d in kept}
    assert len(rows) > 200 and {language for language, _ in rows.values()} >= {"en", "de", "und"}
    capsys.readouterr()
    assert main(["build", "--recipe", "realnewslike", "--output", str(tmp_path / "r")]) == 2
    assert "--recipe realnewslike needs --select-domains" in capsys.readouterr().err
