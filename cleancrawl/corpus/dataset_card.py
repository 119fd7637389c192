"""OUT/README.md: a Hugging Face dataset card, so `datasets.load_dataset("OUT/")` finds the splits.

Its YAML header lists each split's shards as `data_files`, which is how `datasets` (and the Hub)
learn the splits without guessing from folder names. A split without documents is left out:
`datasets` cannot build an empty split ("Instruction 'validation' corresponds to no data"),
and the small builds' validation split (one URL in a thousand) is often empty. Without any
documents there is nothing to list and the card says so. Deterministic: the same counts give
the same bytes.
"""
from __future__ import annotations

CARD_NAME = "README.md"


def dataset_card(documents: dict[str, int]) -> bytes:
    """The card for a corpus whose splits hold `documents[split]` documents (in split order); a
    per-language build's splits are `<language>/<split>`, one config per language."""
    listed = [split for split, n in documents.items() if n > 0]
    configs: dict[str, list[str]] = {}
    for split in listed:
        language, _, _ = split.rpartition("/")
        configs.setdefault(language or "default", []).append(split)
    lines = []
    if listed:
        lines += ["---", "configs:"]
        for name, splits in configs.items():
            lines += [f"- config_name: {name}", "  data_files:"]
            for split in splits:
                lines += [f"  - split: {split.rpartition('/')[2]}", f"    path: \"{split}/*.parquet\""]
        lines += ["---", ""]
    counts = ", ".join(f"{split} {n:,}" for split, n in documents.items())
    lines += [
        "# cleancrawl corpus",
        "",
        f"Documents kept by cleancrawl, as Parquet shards per split ({counts} documents).",
        "`stats.json` says what was read, kept and dropped, and why; the columns are described in",
        "cleancrawl's README (`url`, `text`, `language`, `timestamp`, where each came from).",
        "",
        "```python",
        "from datasets import load_dataset",
        'corpus = load_dataset("path/to/this/folder")   # or streaming=True',
        "```",
    ]
    if any("/" in split for split in documents):
        lines[-2:-1] = ['de = load_dataset("path/to/this/folder", "de")   # one language: its config',
                        'de = load_dataset("path/to/this/folder", data_dir="de")   # or its folder (both splits '
                        'non-empty)']
    empty = [split for split, n in documents.items() if n == 0]
    if empty:
        lines += ["", f"Not listed above, having no documents: {', '.join(empty)} (`datasets` cannot load an "
                      "empty split; its zero-row shard is still there for other readers)."]
    return ("\n".join(lines) + "\n").encode("utf-8")
