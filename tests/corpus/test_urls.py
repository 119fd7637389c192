from cleancrawl.corpus.urls import normalize_url, split_for, url_hash


def test_normalize_url_strips_scheme_www_tracking_and_slash():
    assert normalize_url("https://www.example.com/a/b/") == "example.com/a/b"
    assert normalize_url("http://example.com/") == "example.com"
    assert normalize_url("https://example.com/page?utm_source=x&utm_medium=y") == "example.com/page"
    assert normalize_url("https://example.com/page?ref=hn") == "example.com/page"
    assert normalize_url("https://example.com/page?feed=rss") == "example.com/page"
    # Only those query tails are cut; others stay (as in C4).
    assert normalize_url("https://example.com/page?id=3") == "example.com/page?id=3"
    assert normalize_url("https://example.com/page?id=3&utm_source=x") == "example.com/page?id=3&utm_source=x"


def test_normalize_url_matches_reference_quirks():
    # The reference pattern is not anchored: a scheme inside the URL is removed too.
    assert normalize_url("https://a.org/redirect?to=https://www.b.org/") == "a.org/redirect?to=b.org"
    # `www.` only goes when it follows the scheme.
    assert normalize_url("www.example.com/") == "www.example.com"
    # Real target URIs from the sample crawl, including non-URL ones, normalise without error.
    assert normalize_url("hard::dw.com.colonial.html") == "hard::dw.com.colonial.html"
    assert normalize_url("http://archiv.krimiblog.de/?p=2895") == "archiv.krimiblog.de/?p=2895"


def test_split_is_md5_modulo_1000():
    urls = [f"example.com/page/{i}" for i in range(5000)]
    validation = [u for u in urls if split_for(u) == "validation"]
    assert validation == [u for u in urls if url_hash(u) % 1000 == 0]
    assert 0 < len(validation) < 20
    assert url_hash("example.com") == int("5ababd603b22780302dd8d83498e5172", 16)
