"""Literal readings of the reference C4 code (TFDS c4_utils, v3.1.0), used as test oracles:
`clean_page` (Punkt on every kept line, no shortcuts) and `remove_duplicate_text` (without
Beam). Not part of the package."""
import hashlib
import re
from collections import Counter, defaultdict

from cleancrawl.corpus.sentences import split_sentences


def reference_clean_page(text, min_words_per_line=5, min_num_sentences=3, max_word_length=1000,
                         counter_inc_fn=None):
    """The reference's rules read literally, Punkt on every kept line (the oracle).

    `counter_inc_fn(name)` is called exactly where TFDS c4_utils.clean_page (v3.1.0) increments
    its Beam counters (`line-filtered:too_long_word`, ..., `line-passed`, `filtered:loremipsum`,
    `passed`); `reference_counters(text)` collects them."""
    inc = counter_inc_fn or (lambda name, amt=1: None)
    citation = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
    policy = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
    valid, sentences = [], 0
    for line in text.splitlines():
        line = line.strip()
        if any(len(w) > max_word_length for w in line.split()):
            inc("line-filtered:too_long_word")
            continue
        line = citation.sub("", line)
        if not line.endswith((".", "?", "!", '"')) or line.endswith("..."):
            inc("line-filtered:no_endmark")
            continue
        if len(line.split()) < min_words_per_line:
            inc("line-filtered:too_short")
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            inc("filtered:loremipsum")
            return None
        if "javascript" in lower:
            inc("line-filtered:javascript")
            continue
        if "{" in line:
            inc("filtered:squigglybracket")
            return None
        if any(p in lower for p in policy):
            inc("line-filtered:policy")
            continue
        sentences += len(split_sentences(line))
        valid.append(line)
        inc("line-passed")
    if sentences < min_num_sentences:
        inc("filtered:too_few_sentences")
        return None
    inc("passed")
    return "\n".join(valid).strip()


def reference_counters(texts, **kw) -> Counter:
    """The reference's clean-page counters summed over `texts`."""
    counts = Counter()

    def inc(name, amt=1):
        counts[name] += amt

    for text in texts:
        reference_clean_page(text, counter_inc_fn=inc, **kw)
    return counts


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def reference_remove_duplicate_text(pages):
    """TFDS c4_utils.remove_duplicate_text (v3.1) without Beam, for pages with unique URLs:
    Top.PerKey(1, key=_hash_text, reverse=True) picks the url with the smallest md5 hex."""
    selected = {}
    for url, text in pages:
        for line in text.split("\n"):
            h = _md5(line.strip().lower())
            if h not in selected or _md5(url) < _md5(selected[h]):
                selected[h] = url
    lines_to_keep = defaultdict(set)
    for h, url in selected.items():
        lines_to_keep[url].add(h)
    result = {}
    for url, text in pages:
        new_lines, seen = [], set()
        for line in text.split("\n"):
            h = _md5(line.strip().lower())
            if h in lines_to_keep[url] and h not in seen:
                new_lines.append(line)
                seen.add(h)
        new_text = "\n".join(new_lines)
        result[url] = new_text if new_text and len(split_sentences(new_text)) >= 3 else None
    return result
