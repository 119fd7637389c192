"""`cleancrawl overlap` end to end: the Beam pipeline over a real build's shards equals a local
scan and a brute-force count; eval sources of every form; bad input as one line."""
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl import layout, storage
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.ngrams import words
from cleancrawl.pipelines.build import BuildConfig, run_build
from cleancrawl.pipelines.overlap import OverlapConfig, overlap_local, run_overlap

from datapaths import DATA_DIR

WIKITEXT = os.path.join(DATA_DIR, "text", "wikitext-2-valid.txt")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("overlap") / "out")
    run_build(BuildConfig(output=out))
    return out


@pytest.fixture(scope="module")
def eval_file(corpus, tmp_path_factory):
    """80 WikiText lines, 3 passages planted from the corpus (one with a word changed), one too short."""
    texts = list(storage.iter_texts(layout.list_shards(corpus, split=None)))
    long_docs = [words(t) for t in texts if len(words(t)) > 150]
    wiki = [line for line in open(WIKITEXT, encoding="utf-8").read().splitlines() if line.strip()][:80]
    edited = long_docs[2][40:70]
    edited[15] = "zqxjvw"
    lines = wiki + [" ".join(long_docs[0][10:40]), " ".join(long_docs[1][10:40]).upper() + ".", " ".join(edited),
                    " ".join(long_docs[0][10:14])]
    path = tmp_path_factory.mktemp("evals") / "held.txt"
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")  # blank lines between: skipped
    return str(path), lines, texts


def _brute(lines, texts, n):
    joined = "\n".join(" " + " ".join(words(t)) + " " for t in texts)
    positions = found = dirty = 0
    for line in lines:
        ws = words(line)
        hits = sum(f" {' '.join(ws[i:i + n])} " in joined for i in range(len(ws) - n + 1))
        positions += max(0, len(ws) - n + 1)
        found += hits
        dirty += hits > 0
    return positions, found, dirty


@pytest.mark.slow
def test_beam_pipeline_equals_local_scan_and_brute_force(corpus, eval_file):
    path, lines, texts = eval_file
    config = OverlapConfig(corpus=corpus, evals=[f"held={path}"], ngram=8)
    report = run_overlap(config)
    local = overlap_local(config)
    assert report["evals"] == local["evals"]
    held = report["evals"]["held"]
    assert (held["positions"], held["found"], held["dirty_documents"]) == _brute(lines, texts, 8)
    assert held["documents"] == len(lines)
    # the three planted passages: 23 + 23 + (23 - 8) found positions; WikiText adds what it shares
    assert held["found"] >= 23 + 23 + 15 and held["dirty_documents"] >= 3
    assert report["corpus"]["documents"] == len(texts) and report["method"] == "exact"


@pytest.mark.slow
def test_cli_writes_the_json_and_the_table_for_every_eval_form(corpus, eval_file, tmp_path, capsys):
    path, lines, texts = eval_file
    table = pa.table({"id": list(range(len(lines))), "text": lines})
    pq.write_table(table, tmp_path / "held.parquet")
    os.makedirs(tmp_path / "folder")
    pq.write_table(table, tmp_path / "folder" / "part-0.parquet")
    out = tmp_path / "overlap.json"
    assert cli_main(["overlap", "--corpus", corpus, "--eval", f"text={path}",
                     "--eval", f"pq={tmp_path / 'held.parquet'}",
                     "--eval", f"dir={tmp_path / 'folder'}", "--eval", f"self={corpus}", "--ngram", "8",
                     "--json", str(out)]) == 0
    report = json.load(open(out))
    assert report["ngram"] == 8
    assert report["evals"]["text"] == report["evals"]["pq"] == report["evals"]["dir"]
    # The corpus against itself: every position found, every document with ≥ 8 words dirty.
    whole = report["evals"]["self"]
    assert whole["found"] == whole["positions"] == report["corpus"]["ngrams"] and whole["percent"] == 100.0
    assert whole["dirty_documents"] == sum(len(words(t)) >= 8 for t in texts)
    printed = capsys.readouterr().out
    assert "percent" in printed and "text" in printed and "100.00%" in printed


@pytest.mark.slow
def test_bloom_mode_only_over_counts_and_states_its_rate(corpus, eval_file):
    path, _, _ = eval_file
    exact = overlap_local(OverlapConfig(corpus=corpus, evals=[path], ngram=8))
    bloom = run_overlap(OverlapConfig(corpus=corpus, evals=[path], ngram=8, bloom=True, bloom_bits=1 << 16,
                                      bloom_hashes=3))
    e, b = exact["evals"]["held"], bloom["evals"]["held"]
    assert b["positions"] == e["positions"] and b["found"] >= e["found"]
    stated = bloom["bloom"]
    assert stated["bits"] == 1 << 16 and stated["hashes"] == 3 and 0 < stated["expected_fpr"] < 1
    assert abs(stated["measured_fpr"] - stated["expected_fpr"]) < 0.5 * stated["expected_fpr"] + 0.01
    # the over-count is about the rate times the positions not truly found
    assert b["found"] - e["found"] <= 3 * stated["expected_fpr"] * (e["positions"] - e["found"]) + 10


def _one_line_error(capsys, argv):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_bad_input_is_one_line(corpus, tmp_path, capsys):
    missing = _one_line_error(capsys, ["overlap", "--corpus", corpus, "--eval", f"x={tmp_path / 'nope.txt'}"])
    assert "no such file" in missing
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\xff\xfe\x00 not text" * 10)
    assert "not UTF-8" in _one_line_error(capsys, ["overlap", "--corpus", corpus, "--eval", str(binary)])
    pq.write_table(pa.table({"body": ["a b c"]}), tmp_path / "notext.parquet")
    assert "text column" in _one_line_error(capsys, ["overlap", "--corpus", corpus,
                                                     "--eval", str(tmp_path / "notext.parquet")])
    assert "--ngram 0" in _one_line_error(capsys, ["overlap", "--corpus", corpus, "--eval", str(binary),
                                                   "--ngram", "0"])
    assert "twice" in _one_line_error(capsys, ["overlap", "--corpus", corpus, "--eval", f"a={binary}",
                                               "--eval", f"a={binary}"])
    assert "no such corpus" in _one_line_error(capsys, ["overlap", "--corpus", str(tmp_path / "nocorpus"),
                                                        "--eval", str(binary)])
    assert "--eval" in _one_line_error(capsys, ["overlap", "--corpus", corpus])
