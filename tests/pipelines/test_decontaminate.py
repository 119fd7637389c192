"""`build --decontaminate`: the sample build drops exactly the documents that share a 13-gram with
the eval documents (brute force over the documents that reach the stage), records each in
OUT/contamination/, keeps kept + dropped = read, and leaves a build without it unchanged."""
import os

import pyarrow.parquet as pq
import pytest

from cleancrawl import layout
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.ngrams import words
from cleancrawl.pipelines.build import BuildConfig, run_build

from datapaths import DATA_DIR

WIKITEXT = os.path.join(DATA_DIR, "text", "wikitext-2-valid.txt")
N = 13


def _rows(folder):
    return [r for p in sorted(os.listdir(folder)) if p.endswith(".parquet")
            for r in pq.read_table(os.path.join(folder, p)).to_pylist()]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The sample build without decontamination, with every dropped document kept (to know what
    reached the stage: the kept documents and those badwords dropped after it)."""
    out = str(tmp_path_factory.mktemp("base") / "out")
    stats = run_build(BuildConfig(output=out, keep_dropped=1.0))
    kept = _rows(os.path.join(out, "train")) + _rows(os.path.join(out, "validation"))
    after_langid = kept + [r for r in _rows(os.path.join(out, "dropped")) if r["stage"] == "badwords"]
    return out, stats, kept, after_langid


@pytest.fixture(scope="module")
def evals(baseline, tmp_path_factory):
    """Two eval files: WikiText lines + passages planted from documents that reach the stage
    (verbatim; re-cased; one word in every 10 changed, so no 13-gram survives: must NOT match)."""
    _, _, kept, after_langid = baseline
    bad = [r for r in after_langid if r not in kept]
    long_kept = [words(r["text"]) for r in kept if len(words(r["text"])) > 80]
    long_bad = [words(r["text"]) for r in bad if len(words(r["text"])) > 40]
    sources = long_kept[:3] + long_bad[:1]  # the last: a page badwords drops after the stage
    folder = tmp_path_factory.mktemp("evals")
    wiki = [line for line in open(WIKITEXT, encoding="utf-8").read().splitlines() if line.strip()][:100]
    planted = [" ".join(sources[0][20:50]), " ".join(sources[3][5:35]).title()]
    edited = list(sources[1][30:80])
    for i in range(0, len(edited), 10):
        edited[i] = "zqxjvw"
    (folder / "a.txt").write_text("\n".join(wiki + planted) + "\n", encoding="utf-8")
    (folder / "b.txt").write_text(" ".join(edited) + "\n" + " ".join(sources[2][0:13]) + "\n", encoding="utf-8")
    lines = {"a": wiki + planted, "b": [" ".join(edited), " ".join(sources[2][0:13])]}
    return folder, lines


def _shares_ngram(text, eval_lines):
    joined = "\n".join(" " + " ".join(words(t)) + " " for t in eval_lines)
    ws = words(text)
    return any(f" {' '.join(ws[i:i + N])} " in joined for i in range(len(ws) - N + 1))


@pytest.mark.slow
def test_decontamination_drops_exactly_the_documents_sharing_an_ngram(baseline, evals, tmp_path):
    base_out, base_stats, base_kept, after_langid = baseline
    folder, lines = evals
    out = str(tmp_path / "out")
    stats = run_build(BuildConfig(output=out, decontaminate=[str(folder / "a.txt"), f"b={folder / 'b.txt'}"],
                                  keep_dropped=1.0))
    all_lines = lines["a"] + lines["b"]
    expected = {r["url"] for r in after_langid if _shares_ngram(r["text"], all_lines)}
    assert len(expected) >= 3  # the verbatim, re-cased and 13-word passages; the edited one matches nothing
    audit = _rows(os.path.join(out, "contamination"))
    assert {r["dropped_url"] for r in audit} == expected and len(audit) == len(expected)
    dropped = _rows(os.path.join(out, "dropped"))
    assert {r["url"] for r in dropped if r["stage"] == "decontaminate"} == expected
    assert all(r["reason"] == "contaminated" for r in dropped if r["stage"] == "decontaminate")
    kept = _rows(os.path.join(out, "train")) + _rows(os.path.join(out, "validation"))
    assert {r["url"] for r in kept} == {r["url"] for r in base_kept} - expected
    totals = stats["totals"]
    assert totals["read"] == base_stats["totals"]["read"] and totals["balanced"]
    assert totals["kept"] + totals["dropped"] == totals["read"]
    assert stats["dropped"]["decontaminate"]["contaminated"]["documents"] == len(expected)
    assert [s["stage"] for s in stats["funnel"]][-2:] == ["decontaminate", "badwords"]
    # The audit names a shared n-gram and the eval document holding it.
    texts = {r["url"]: r["text"] for r in after_langid}
    for row in audit:
        assert (len(row["ngram"].split()) == N
                and f" {row['ngram']} " in " " + " ".join(words(texts[row["dropped_url"]])) + " ")
        eval_doc = lines[row["eval_source"]][row["eval_document"]]
        assert f" {row['ngram']} " in " " + " ".join(words(eval_doc)) + " "
    # Without --decontaminate the same folder is rebuilt with --overwrite: contamination/ goes.
    assert cli_main(["-q", "build", "--output", out, "--overwrite"]) == 0
    folder = os.path.join(out, "contamination")
    assert not os.path.isdir(folder) or not os.listdir(folder)  # the old run's audit shards are gone
    for split in ("train", "validation"):
        for a, b in zip(layout.list_shards(out, split), layout.list_shards(base_out, split)):
            assert open(a, "rb").read() == open(b, "rb").read()


def test_a_missing_eval_file_is_one_line_before_the_output_is_touched(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["build", "--output", str(out), "--decontaminate", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--decontaminate" in err and "no such file" in err
    assert not out.exists()
    (tmp_path / "e.txt").write_text("a b c\n")
    assert cli_main(["build", "--output", str(out), "--decontaminate", str(tmp_path / "e.txt"),
                     "--decontaminate-ngram", "0"]) == 2
    assert "--decontaminate-ngram 0" in capsys.readouterr().err and not out.exists()
    # An eval file is an input: an output folder holding it is refused.
    assert cli_main(["build", "--output", str(tmp_path), "--decontaminate", str(tmp_path / "e.txt")]) == 2
    assert "overlaps the input" in capsys.readouterr().err
