"""mC4's paragraph filter (TFDS `c4_utils.paragraph_filter`, C4 v3.1.0).

A page is kept when its text, split on "\\n" (not `splitlines`: the reference's delimiter), has
at least `min_paragraphs` lines and the three longest lines are each at least
`min_paragraph_len` characters long (the reference takes `min(heapq.nlargest(3, lengths))`:
three, whatever `min_paragraphs` is). Lengths are Python `len`, code points. mC4 runs it in
place of C4's `clean` stage, right after URL dedup. Drop reason: `too_few_paragraphs`.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from cleancrawl.corpus.record import Document, Drop
from cleancrawl.options import option

LINE_DELIMITER = "\n"


@dataclass(frozen=True)
class ParagraphConfig:
    """The paragraph filter's options; defaults are mC4's."""

    min_paragraphs: int = option(3, help="paragraph filter: drop pages of fewer lines (default: %(default)s)")
    min_paragraph_len: int = option(200, help=(
        "paragraph filter: drop pages whose three longest lines are not all this long, in characters "
        "(default: %(default)s)"))


def third_longest(lengths: list[int]) -> int:
    """The reference's `min(heapq.nlargest(3, lengths))`."""
    return min(heapq.nlargest(3, lengths))


class ParagraphFilter:
    def __init__(self, config: ParagraphConfig = ParagraphConfig()):
        self.config = config

    def __call__(self, doc: Document) -> Document | Drop:
        lengths = [len(line) for line in doc.text.split(LINE_DELIMITER)]
        if len(lengths) < self.config.min_paragraphs:
            return doc.drop("too_few_paragraphs", detail=f"{len(lengths)} lines")
        shortest = third_longest(lengths)
        if shortest < self.config.min_paragraph_len:
            return doc.drop("too_few_paragraphs", detail=f"3rd longest line {shortest} chars")
        return doc
