"""output_folder.py through real builds: nothing clobbered, nothing mixed (layouts, --overwrite, the lock, full disks).

Real builds of the bundled sample crawl; concurrent runs and killed runs are real processes."""
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from cleancrawl import layout, output_folder, write_failures
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.build import BuildConfig, build_pipeline, prepare_output, resolve_inputs, run_build

from datapaths import SAMPLE_WET
from disk_faults import fill_disk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("safety") / "out")
    run_build(BuildConfig(inputs=[SAMPLE_WET], output=out, num_shards=3))
    return out


def snapshot(folder):
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ---------------------------------------------------------------------------- item 1: never a user's file

def test_output_holding_the_input_is_refused_and_nothing_is_deleted(tmp_path, capsys):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    shutil.copy(SAMPLE_WET, io_dir / "some.warc.wet.gz")
    (io_dir / "notes.txt").write_text("note\n")
    before = snapshot(io_dir)
    assert cli_main(["build", "--input", str(io_dir / "*.wet.gz"), "--output", str(io_dir), "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    # The folder above the input (`--output .` run from where the crawl lies) is refused too.
    assert cli_main(["build", "--input", str(io_dir / "some.warc.wet.gz"), "--output", str(tmp_path),
                     "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    # And an --input-list inside the output folder (the files it lists lie elsewhere).
    listing = io_dir / "wet.paths"
    listing.write_text(SAMPLE_WET + "\n")
    assert cli_main(["build", "--input-list", str(listing), "--output", str(io_dir), "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input", "wet.paths")
    listing.unlink()
    assert snapshot(io_dir) == before


def test_overwrite_refuses_a_folder_with_foreign_files_and_keeps_them(built, tmp_path, capsys):
    out = str(tmp_path / "copy")
    shutil.copytree(built, out)
    (tmp_path / "copy" / "notes.txt").write_text("mine\n")
    (tmp_path / "copy" / "train" / "README").write_text("mine too\n")
    before = snapshot(out)
    for overwrite in ([], ["--overwrite"]):
        assert cli_main(["build", "--input", SAMPLE_WET, "--output", out, *overwrite]) == 2
        one_line_error(capsys, "did not write", "nothing was deleted")
    assert snapshot(out) == before
    # A folder holding only a user's files (not a build) is refused as well, never emptied.
    other = tmp_path / "mine"
    (other / "train").mkdir(parents=True)
    (other / "train" / "data.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="train/data.csv.*did not write"):
        run_build(BuildConfig(inputs=[SAMPLE_WET], output=str(other), overwrite=True))
    assert (other / "train" / "data.csv").read_text() == "a,b\n"


def test_dedup_into_its_own_input_corpus_is_refused(built, capsys):
    before = snapshot(built)
    assert cli_main(["dedup", "--input", built, "--output", built, "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    assert cli_main(["dedup", "--input", os.path.join(built, "train", "*.parquet"),
                     "--output", os.path.join(built, "train"), "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    assert snapshot(built) == before


def test_overwrite_removes_only_the_builds_files(built, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(built, out)
    # Left by a crashed run: temporary shards and a stale lock of a process that no longer exists.
    open(os.path.join(out, "train", ".part-00000-of-00007.parquet.tmp-0123abcd"), "wb").close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(os.path.join(out, output_folder.LOCK_FILE), "w") as f:
        json.dump({"run_id": "crashed", "host": socket.gethostname(), "pid": dead.pid, "command": "build"}, f)
    stats = run_build(BuildConfig(inputs=[SAMPLE_WET], output=out, overwrite=True))
    assert stats["totals"]["balanced"]
    assert output_folder.LOCK_FILE not in os.listdir(out) and not [p for p in snapshot(out) if ".tmp-" in p]
    assert os.listdir(os.path.join(out, "train")) == ["part-00000-of-00001.parquet"]


# ---------------------------------------------------------------------------- item 2: one writer, no mixtures

def test_a_second_build_is_refused_while_the_first_runs(tmp_path, capsys):
    out = str(tmp_path / "out")
    first = subprocess.Popen([sys.executable, "-m", "cleancrawl", "build", "--input", SAMPLE_WET,
                              "--output", out, "--num-shards", "3"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(out, output_folder.LOCK_FILE)):
            assert first.poll() is None and time.time() < deadline, first.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        for overwrite in ([], ["--overwrite"]):
            assert cli_main(["build", "--input", SAMPLE_WET, "--output", out, "--num-shards", "1", *overwrite]) == 2
            one_line_error(capsys, "being written by another run", f"pid {first.pid}")
    finally:
        assert first.wait(timeout=300) == 0, first.stderr.read().decode()[-2000:]
    assert not os.path.exists(os.path.join(out, output_folder.LOCK_FILE))
    assert [os.path.basename(p) for p in layout.list_shards(out)] == [layout.shard_name(i, 3) for i in range(3)]


def test_shards_of_another_run_are_detected_by_readers_and_stats(built, tmp_path, capsys):
    out = str(tmp_path / "mixed")
    shutil.copytree(built, out)
    shutil.copy(os.path.join(out, "train", "part-00000-of-00003.parquet"),
                os.path.join(out, "train", "part-00000-of-00001.parquet"))
    with pytest.raises(UserError, match="part-00000-of-00001.*not written by the run recorded in stats.json"):
        layout.list_shards(out)
    assert cli_main(["stats", out]) == 2
    one_line_error(capsys, "two runs wrote into this folder")
    os.remove(os.path.join(out, "train", "part-00000-of-00001.parquet"))
    os.remove(os.path.join(out, "train", "part-00002-of-00003.parquet"))
    with pytest.raises(UserError, match="part-00002-of-00003.* is missing"):
        layout.list_shards(out)


def test_a_run_that_lost_its_folder_never_writes_success(tmp_path):
    """Object stores have no atomic create: the run id is checked before _SUCCESS is written."""
    import apache_beam as beam

    out = str(tmp_path / "out")
    config = BuildConfig(inputs=[SAMPLE_WET], output=out)
    lock = prepare_output(out, False)
    with open(lock.path, "w") as f:  # another run took the folder meanwhile
        json.dump({"run_id": "the-other-run", "host": "elsewhere", "pid": 1}, f)
    with pytest.raises(UserError, match="another run took the output folder"):
        with write_failures.write_errors_are_user_errors(out):
            with beam.Pipeline() as pipeline:
                build_pipeline(pipeline, config, resolve_inputs(config), run_id=lock.run_id)
    assert not os.path.exists(os.path.join(out, layout.SUCCESS_MARKER))
    lock.release()  # not this run's lock any more: left alone
    assert json.load(open(os.path.join(out, output_folder.LOCK_FILE)))["run_id"] == "the-other-run"


# ---------------------------------------------------------------------------- item 14: disk full

def test_disk_full_during_a_build_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    fill_disk(monkeypatch, "/train/")
    out = tmp_path / "out"
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"cleancrawl build: error: {out}: no space left on device; free space or choose another " \
                      "output (the unfinished output has no _SUCCESS and readers refuse it)"
    assert not [p for p in snapshot(out) if ".tmp-" in p]
    assert not (out / layout.SUCCESS_MARKER).exists() and not (out / output_folder.LOCK_FILE).exists()
    assert not (out / layout.SPILL_DIR).exists()  # the spill files that filled the disk are gone too


def test_disk_full_is_recognised_in_beams_wrapped_errors():
    # As a multi-process DirectRunner re-raises it: the worker's traceback as text.
    wrapped = RuntimeError("Pipeline failed:\nTraceback ...\n"
                           "OSError: [Errno 28] No space left on device [while running 'Write']")
    assert write_failures.is_disk_full(wrapped)
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise ValueError("augmented by Beam") from err
    except ValueError as err:
        assert write_failures.is_disk_full(err)
    assert not write_failures.is_disk_full(RuntimeError("Errno 2: no such file"))


# ---------------------------------------------------------------------------- item 15: workers die with the build

def _workers_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if b"worker_exit" in cmdline and f"CLEANCRAWL_BUILD_PID={pid}".encode() in environ:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_build_takes_its_worker_processes_with_it(tmp_path):
    out = str(tmp_path / "out")
    build = subprocess.Popen([sys.executable, "-m", "cleancrawl", "build", "--input", SAMPLE_WET,
                              "--output", out, "--workers", "2"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(_workers_of(build.pid)) < 2:
            assert build.poll() is None and time.time() < deadline
            time.sleep(0.1)
        time.sleep(1)  # the workers have imported their plugins
        workers = _workers_of(build.pid)
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    deadline = time.time() + 10
    while _workers_of(build.pid) and time.time() < deadline:
        time.sleep(0.1)
    left = _workers_of(build.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert workers and not left


# ---------------------------------------------------------------------------- reddit-urls

def test_reddit_urls_never_deletes_a_users_file_or_its_input(tmp_path, capsys):
    from datapaths import DATA_DIR

    out = tmp_path / "urls"
    out.mkdir()
    dump = out / "RS_v2_2005-06.xz"
    shutil.copy(os.path.join(DATA_DIR, "reddit", "RS_v2_2005-06.xz"), dump)
    assert cli_main(["reddit-urls", "--submissions", str(dump), "--output", str(out), "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    dump.rename(tmp_path / dump.name)
    (out / "notes.txt").write_text("mine\n")
    assert cli_main(["reddit-urls", "--submissions", str(tmp_path / dump.name), "--output", str(out),
                     "--overwrite"]) == 2
    one_line_error(capsys, "notes.txt", "did not write")
    assert os.listdir(out) == ["notes.txt"]


def test_a_lock_from_another_host_is_never_broken_and_a_garbled_one_is(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / output_folder.LOCK_FILE
    lock.write_text(json.dumps({"run_id": "x", "host": "another-machine", "pid": 1, "command": "build",
                                "started": "2026-01-01T00:00:00Z"}))
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out), "--overwrite"]) == 2
    one_line_error(capsys, "pid 1 on another-machine", f"delete {lock} if that run is gone")
    assert json.loads(lock.read_text())["host"] == "another-machine"
    # A lock without a usable pid (written by hand, or cut short long ago) on this host: replaced.
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": "?"}))
    held = output_folder.OutputLock.acquire(str(out), "build")
    assert held.owned()
    held.release()
    assert not lock.exists()
