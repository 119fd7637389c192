"""Run datatrove's C4QualityFilter on WET files; print JSON (pages/s) and write the kept texts.

Runs in bench/.venv-peers (datatrove is a benchmark peer, not a dependency). Configured with
C4's thresholds (min 3 sentences, min 5 words a line; datatrove's defaults are 5 and 3), and
its Punkt loader (an NLTK pickle that NLTK >= 3.9 refuses) given the same punkt_tab English
parameters cleancrawl ships, so both sides count sentences with the same model.
"""
import json
import sys
import time

from warcio.archiveiterator import ArchiveIterator


def main(nltk_data: str, kept_json: str, paths: list[str]) -> None:
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    nltk.data.path.insert(0, nltk_data)
    punkt = PunktTokenizer("english")
    from datatrove.data import Document
    from datatrove.pipeline.filters.c4_filters import C4QualityFilter
    from datatrove.utils import word_tokenizers

    word_tokenizers.NLTKTokenizer.tokenizer = property(lambda self: punkt)
    # datatrove's English default is spaCy; C4 counts sentences with Punkt: give it Punkt.
    english_punkt = word_tokenizers.NLTKTokenizer("english")

    docs = []
    for path in paths:
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "conversion":
                    text = record.content_stream().read().decode("utf-8")
                    if len(text) <= 190_000:
                        docs.append(Document(text=text, id=record.rec_headers.get_header("WARC-Target-URI")))
    filt = C4QualityFilter(min_num_sentences=3, min_words_per_line=5, language=english_punkt)
    kept = {}
    start = time.perf_counter()
    for doc in docs:
        result = filt.filter(doc)
        if result is True:
            kept[doc.id] = doc.text
    seconds = time.perf_counter() - start
    with open(kept_json, "w") as f:
        json.dump(kept, f)
    print(json.dumps({"pages": len(docs), "seconds": seconds, "pages_per_s": len(docs) / seconds, "kept": len(kept)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
