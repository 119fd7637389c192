"""The RealNews-like domain allowlist, on the URLs of real 2005 Reddit submissions and real crawl pages."""
import json
import logging
import lzma
import os
import socket
from collections import Counter

import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Drop
from cleancrawl.corpus.urls import normalize_url, offline_extractor
from cleancrawl.selection.domains import DomainAllowlist, DomainSelector, load_allowlist, parse_allowlist

from datapaths import DATA_DIR

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "cleancrawl", "corpus", "data", "realnews_domains_example.json")


def reddit_urls():
    urls = []
    for name in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz"):
        with lzma.open(os.path.join(DATA_DIR, "reddit", name)) as f:
            urls += [normalize_url(json.loads(line)["url"]) for line in f]
    return urls


def host(normalized_url):
    return normalized_url.split("/", 1)[0].split(":", 1)[0].lower()


def test_the_example_allowlist_on_real_submitted_urls():
    allowlist = DomainAllowlist(load_allowlist(EXAMPLE))
    urls = reddit_urls()
    kept = Counter(host(u) for u in urls if allowlist.check(u) is None)
    dropped = Counter(host(u) for u in urls if allowlist.check(u) is not None)
    # Domains allowed whole, by subdomain, and "www" standing for the bare domain (cnn.com).
    assert kept["news.bbc.co.uk"] == 70 and kept["nytimes.com"] == 60 and kept["msnbc.msn.com"] == 47
    assert kept["cnn.com"] == 41 and kept["money.cnn.com"] == 5 and kept["today.reuters.com"] == 9
    assert kept["observer.guardian.co.uk"] == 8 and kept["slate.msn.com"] == 18
    # Not listed, or a subdomain the list does not allow.
    assert dropped["news.yahoo.com"] == 38 and dropped["sportsillustrated.cnn.com"] == 5
    assert "news.com.com" in dropped and not set(kept) & set(dropped)
    allowed_domains = {k for k in json.load(open(EXAMPLE)) if not k.startswith("#")}
    assert all(any(h == d or h.endswith("." + d) for d in allowed_domains) for h in kept)


def test_reference_semantics_a_list_restricts_anything_else_allows_all():
    allowed = parse_allowlist({"bbc.co.uk": ["news"], "nytimes.com": True, "wired.com": None, "reuters.com": "*",
                               "slate.com": False, "msn.com": []})
    check = DomainAllowlist(allowed).check
    assert check("news.bbc.co.uk/2/hi/europe/4627155.stm") is None
    assert check("bbc.co.uk/x") == "subdomain '' of bbc.co.uk not allowed"
    assert check("news.bbc.co.uk.evil.com/x") == "domain evil.com not listed"
    for url in ("nytimes.com/a", "blogs.nytimes.com/a", "wired.com/news/x", "today.reuters.com/x", "slate.com/id/1"):
        assert check(url) is None
    assert check("msnbc.msn.com/id/1") == "subdomain 'msnbc' of msn.com not allowed"


def test_host_case_ports_and_odd_urls():
    check = DomainAllowlist(parse_allowlist({"nytimes.com": True})).check
    assert check("WWW.NYTimes.COM/2005/a.html") is None
    assert check("user@nytimes.com:8080/x?y=1") is None
    assert check("localhost:8080/x") == "domain localhost not listed"
    assert check("127.0.0.1/x") == "domain 127.0.0.1 not listed"
    assert check("") == "domain (none) not listed"


def test_public_suffix_rules_from_the_bundled_snapshot_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tldextract tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    extract = offline_extractor()
    assert (extract("news.bbc.co.uk").domain, extract("news.bbc.co.uk").suffix) == ("bbc", "co.uk")
    # Wildcard and exception rules (*.kawasaki.jp, !city.kawasaki.jp); private suffixes off, as the reference.
    assert (extract("www.foo.kawasaki.jp").domain, extract("www.foo.kawasaki.jp").suffix) == ("www", "foo.kawasaki.jp")
    assert (extract("city.kawasaki.jp/x").domain, extract("city.kawasaki.jp/x").suffix) == ("city", "kawasaki.jp")
    assert (extract("a.b.blogspot.com").subdomain, extract("a.b.blogspot.com").domain) == ("a.b", "blogspot")
    check = DomainAllowlist(parse_allowlist({"abc.net.au": ["www"]})).check
    assert check("abc.net.au/news") is None and check("www.abc.net.au/news") is None


def test_malformed_allowlists(tmp_path, caplog):
    (tmp_path / "list.json").write_text('["nytimes.com"]')
    with pytest.raises(UserError, match="expected a JSON object"):
        load_allowlist(str(tmp_path / "list.json"))
    (tmp_path / "broken.json").write_text('{"nytimes.com": true,')
    with pytest.raises(UserError, match="cannot read domain allowlist"):
        load_allowlist(str(tmp_path / "broken.json"))
    with pytest.raises(UserError, match="cannot read"):
        load_allowlist(str(tmp_path / "missing.json"))
    with caplog.at_level(logging.WARNING):
        allowed = parse_allowlist({"news.bbc.co.uk": True, "# note": "ignored", "reuters.com": True})
    assert "news.bbc.co.uk" in caplog.text and "# note" not in allowed
    assert DomainAllowlist(allowed).check("news.bbc.co.uk/x") == "domain bbc.co.uk not listed"


def test_selector_with_the_example_allowlist_on_the_real_crawl_sample(sample_documents):
    selector = DomainSelector(load_allowlist(EXAMPLE))
    results = [selector(d) for d in sample_documents]
    kept = sorted(r.url for r in results if not isinstance(r, Drop))
    drops = [r for r in results if isinstance(r, Drop)]
    # Three of the 322 pages are on listed news sites; bbc.com is allowed through its "www" entry.
    assert kept == [
        "https://www.bbc.com/news/world-us-canada-52241221",
        "https://www.nytimes.com/2020/08/16/business/california-blackouts.html",
        "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens",
    ]
    assert len(drops) == len(sample_documents) - 3
    # stage: the runner's
    assert all(d.stage == "" and d.reason == "domain_not_allowed" and d.text_bytes > 0 for d in drops)
    msn = next(d for d in drops if "msn.com" in d.url)
    assert msn.detail == "subdomain '' of msn.com not allowed"  # msn.com lists only msnbc and slate
