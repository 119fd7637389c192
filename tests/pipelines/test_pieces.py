"""A build in pieces (`build --piece`, `finish`) writes the whole build's bytes, on real pages:
the bundled 323-page WET sample split into 6 files (the last also holding copies of pages of the
first, so URL dedup, C4 line dedup and MinHash all decide across pieces)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from cleancrawl import layout
from cleancrawl.cli import main
from cleancrawl.pipelines.build import run_build
from cleancrawl.pipelines.config import BuildConfig

from datapaths import write_sample_listing

FILES = 6
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crawl")
    write_sample_listing(folder, FILES, repeated=slice(1, 12))  # the same URLs again, in another piece
    return folder


def _files(output) -> dict[str, str]:
    """Every file of a corpus but stats.json → its sha256."""
    found = {}
    for dirpath, _, names in os.walk(output):
        for name in names:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, output)
            if rel != layout.STATS_FILE:
                found[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


def _stats(output) -> dict:
    stats = layout.read_stats(str(output))
    stats.pop("finished_at")
    stats["config"].pop("output")
    return stats


def _piece(listing, output, files, *extra) -> list[str]:
    return ["build", "--input-list", str(listing / "wet.paths"), "--input-prefix", str(listing) + "/",
            "--files", files, "--piece", "--output", str(output), *extra]


def test_three_pieces_one_killed_and_rerun_equal_the_whole_build(listing, tmp_path, capsys):
    whole = tmp_path / "whole"
    run_build(BuildConfig(input_list=str(listing / "wet.paths"), input_prefix=str(listing) + "/", files="0:6",
                          output=str(whole)))
    pieces = [tmp_path / f"p{i}" for i in range(3)]
    assert main(_piece(listing, pieces[0], "0:2")) == 0
    assert main(_piece(listing, pieces[2], "4:6")) == 0
    # The middle piece is killed while it runs, then its command is run again.
    command = [sys.executable, "-m", "cleancrawl", *_piece(listing, pieces[1], "2:4")]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (pieces[1] / "_cleancrawl.lock").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (pieces[1] / layout.SUCCESS_MARKER).exists()
    capsys.readouterr()
    code = main(["finish", *map(str, pieces), "--output", str(tmp_path / "early")])
    assert code == 2 and "p1 is unfinished" in capsys.readouterr().err
    assert main(_piece(listing, pieces[1], "2:4")) == 0  # rerun alone, no --overwrite needed
    # a finished piece is never redone
    before = os.path.getmtime(pieces[0] / layout.PIECE_FILE)
    capsys.readouterr()
    assert main(_piece(listing, pieces[0], "0:2")) == 0
    assert "already built" in capsys.readouterr().out
    assert os.path.getmtime(pieces[0] / layout.PIECE_FILE) == before

    finished = tmp_path / "finished"
    assert main(["finish", *map(str, pieces), "--output", str(finished)]) == 0
    whole_stats, finished_stats = _stats(whole), _stats(finished)
    assert finished_stats == whole_stats
    assert whole_stats["dropped"]["url_dedup"]["duplicate_url"]["documents"] >= 10  # decided across pieces
    assert _files(finished) == _files(whole)


def test_finish_refuses_other_options_gaps_and_shared_files(listing, tmp_path, capsys):
    a, b, c, d = (tmp_path / n for n in "abcd")
    assert main(_piece(listing, a, "0:2")) == 0
    assert main(_piece(listing, b, "3:4")) == 0
    assert main(_piece(listing, c, "2:3", "--min-sentences", "5")) == 0
    assert main(_piece(listing, d, "1:3")) == 0
    capsys.readouterr()
    assert main(["finish", str(a), str(b), "--output", str(tmp_path / "out")]) == 2
    assert "missing: the piece of --files 2:3" in capsys.readouterr().err
    assert main(["finish", str(a), str(c), "--output", str(tmp_path / "out")]) == 2
    assert "other options" in capsys.readouterr().err and "min_sentences" in open(c / "piece.json").read()
    assert main(["finish", str(a), str(d), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "is in two pieces" in err and "overlaps" in err
    assert main(["finish", str(a), str(a), "--output", str(tmp_path / "out")]) == 2
    assert "named twice" in capsys.readouterr().err
    assert main(["finish", str(a), str(tmp_path / "nothing"), "--output", str(tmp_path / "out")]) == 2
    assert "is not a piece" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(_piece(listing, tmp_path / "e", "0:2", "--keep-dropped")) == 2
    assert "--keep-dropped with --piece" in capsys.readouterr().err


def test_mc4_in_two_pieces_equals_the_whole_mc4_build(listing, tmp_path):
    """mC4's stages replay too: the paragraph filter from the pieces, CLD3 where line dedup left the page."""
    whole = tmp_path / "whole"
    assert main(["build", "--recipe", "mc4", "--input-list", str(listing / "wet.paths"), "--input-prefix",
                 str(listing) + "/", "--files", "0:6", "--output", str(whole)]) == 0
    pieces = [tmp_path / "p0", tmp_path / "p1"]
    assert main(_piece(listing, pieces[0], "0:3", "--recipe", "mc4")) == 0
    assert main(_piece(listing, pieces[1], "3:6", "--recipe", "mc4")) == 0
    finished = tmp_path / "finished"
    assert main(["finish", *map(str, pieces), "--output", str(finished)]) == 0
    assert _stats(finished) == _stats(whole)
    assert _files(finished) == _files(whole) and any(name.startswith("und/") for name in _files(whole))
