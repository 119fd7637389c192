"""The RealNews-like selection: keep pages whose registered domain is on an allowlist.

The allowlist is the JSON that Grover's RealNews (and T5's `c4/realnewslike`) uses: a
mapping of registered domain → the subdomains allowed, or anything that is not a list
(null, true, "*") for all of them:

    {"nytimes.com": null, "bbc.co.uk": ["news", ""], "theguardian.com": ["www", "amp"]}

A page's registered domain comes from the public-suffix rules (`tldextract`, ICANN
section, as the reference), applied to its normalised URL: `news.bbc.co.uk/2/hi/…` is
domain `bbc.co.uk`, subdomain `news`. Only tldextract's bundled suffix-list snapshot is
used; nothing is downloaded or cached at run time.

Differences from the reference (`c4_utils.is_realnews_domain`), both in the direction of
matching what was meant: host names are compared lower-cased, and an allowed subdomain
"www" also allows the bare domain "" (normalisation strips a leading `www.`, so the
reference could never match "www"). Keys starting with "#" are comments.
"""
from __future__ import annotations

import json
import logging
from typing import Mapping

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.corpus.urls import offline_extractor

REASON = "domain_not_allowed"


def parse_allowlist(data: object, source: str = "allowlist") -> dict[str, frozenset[str] | None]:
    """Decoded JSON → {registered domain: allowed subdomains, or None for all}.

    A value that is a list restricts the subdomains; any other value (true, null, "*", even
    false, as in the reference) allows all. A key that is not itself a registered domain
    (e.g. "news.bbc.co.uk") can never match: it is kept, and logged as a warning.
    """
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a JSON object mapping domain → subdomains, got {type(data).__name__}")
    extract = offline_extractor()
    allowed: dict[str, frozenset[str] | None] = {}
    unmatchable = []
    for key, value in data.items():
        if key.startswith("#"):
            continue
        domain = key.strip().lower()
        parts = extract(domain)
        if not parts.suffix or f"{parts.domain}.{parts.suffix}" != domain:
            unmatchable.append(key)
        if isinstance(value, list):
            subdomains = {str(s).strip().lower() for s in value}
            if "www" in subdomains:
                subdomains.add("")
            allowed[domain] = frozenset(subdomains)
        else:
            allowed[domain] = None
    if unmatchable:
        logging.getLogger(__name__).warning(
            "%s: %d key(s) are not registered domains and can never match: %s", source, len(unmatchable),
            ", ".join(unmatchable[:5]) + (", …" if len(unmatchable) > 5 else ""))
    return allowed


def load_allowlist(path: str) -> dict[str, frozenset[str] | None]:
    """Read an allowlist JSON file (local path or any Beam file system)."""
    try:
        with storage.open_binary(path) as f:
            text = f.read().decode("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read domain allowlist {path}: {err}") from None
    return parse_allowlist(data, path)


class DomainAllowlist:
    """`check(normalized_url)` → None when allowed, else a short reason (for `Drop.detail`)."""

    def __init__(self, allowed: Mapping[str, frozenset[str] | None]):
        self._allowed = dict(allowed)
        self._extract = offline_extractor()

    def check(self, normalized_url: str) -> str | None:
        parts = self._extract(normalized_url.lower())
        registered = f"{parts.domain}.{parts.suffix}"
        if registered not in self._allowed:
            return f"domain {registered.strip('.') or '(none)'} not listed"
        subdomains = self._allowed[registered]
        if subdomains is not None and parts.subdomain not in subdomains:
            return f"subdomain '{parts.subdomain}' of {registered} not allowed"
        return None


class DomainSelector:
    """The build stage: Document → Document (allowed) or Drop("select", "domain_not_allowed")."""

    def __init__(self, allowed: Mapping[str, frozenset[str] | None]):
        self._allowlist = DomainAllowlist(allowed)

    def __call__(self, doc: Document) -> Document | Drop:
        why = self._allowlist.check(doc.normalized_url)
        if why is None:
            return doc
        return doc.drop(REASON, detail=why)
