"""URL normalisation as C4 does it, and the hashes C4 derives from normalised URLs."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

_SCHEME_WWW = re.compile(r"https?:\/\/(www\.)?")
_TRACKING_TAIL = re.compile(r"\?(utm_|ref|feed).*")


def normalize_url(url: str) -> str:
    """C4's `normalize_url`, exactly: strip every `http(s)://` (and the `www.` after it),
    cut a `?utm_…`, `?ref…` or `?feed…` tail, strip trailing slashes.

    Like the reference, the scheme pattern is not anchored: it is removed wherever it occurs
    (e.g. inside a query string). `.*` does not cross a newline, as in the reference.
    """
    url = _SCHEME_WWW.sub("", url)
    url = _TRACKING_TAIL.sub("", url)
    return url.rstrip("/")


def url_hash(normalized_url: str) -> int:
    """int(md5(normalized_url), 16): C4's key for the validation split and badword sampling."""
    return int(hashlib.md5(normalized_url.encode("utf-8")).hexdigest(), 16)


def split_for(normalized_url: str, validation_modulus: int = 1000) -> str:
    """C4's split: validation when md5(normalized_url) % 1000 == 0, else train."""
    return "validation" if url_hash(normalized_url) % validation_modulus == 0 else "train"


# ---------------------------------------------------------------------------- registered domains

_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


@lru_cache(maxsize=1)
def offline_extractor():
    """tldextract on its bundled public-suffix snapshot: never fetch the list, never write a cache."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                 include_psl_private_domains=False)


@lru_cache(maxsize=1 << 16)
def split_host(host: str) -> tuple[str, str]:
    """host → (registered domain, tld). IPs and suffix-less hosts are their own domain."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return "(no host)", "(no host)"
    if host.startswith("[") or _IPV4.match(host):
        return host, "(ip)"
    parts = offline_extractor()(host)
    if not parts.suffix:
        return host, host.rsplit(".", 1)[-1]
    domain = f"{parts.domain}.{parts.suffix}" if parts.domain else host
    return domain, parts.suffix.rsplit(".", 1)[-1]
