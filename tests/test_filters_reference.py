"""A literal reading of the reference C4 `clean_page` rules (TFDS c4_utils, v3.1.0), used as a
test oracle: Punkt on every kept line, no shortcuts. Not part of the package."""
import re

from corpus.sentences import split_sentences


def reference_clean_page(text, min_words_per_line=5, min_num_sentences=3, max_word_length=1000):
    """The reference's rules read literally, Punkt on every kept line (the oracle)."""
    citation = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
    policy = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
    valid, sentences = [], 0
    for line in text.splitlines():
        line = line.strip()
        if any(len(w) > max_word_length for w in line.split()):
            continue
        line = citation.sub("", line)
        if not line.endswith((".", "?", "!", '"')) or line.endswith("..."):
            continue
        if len(line.split()) < min_words_per_line:
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            return None
        if "javascript" in lower:
            continue
        if "{" in line:
            return None
        if any(p in lower for p in policy):
            continue
        sentences += len(split_sentences(line))
        valid.append(line)
    if sentences < min_num_sentences:
        return None
    return "\n".join(valid).strip()
