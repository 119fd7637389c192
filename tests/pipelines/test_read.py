"""The build's command line on damaged and wrong inputs, made from real WARC/WET bytes: the exit
code with and without --strict, what stats.json names, and what never reaches it or the terminal."""
import gzip
import json
import os
import re
import subprocess
import sys

import pytest

from cleancrawl.cli import main as cli_main

from datapaths import COMMONCRAWL, DATA_DIR, SAMPLE_WET

CLEANCRAWL = os.path.join(os.path.dirname(sys.executable), "cleancrawl")
WHIRLWIND_WET = os.path.join(COMMONCRAWL, "whirlwind.warc.wet.gz")


def cleancrawl(*args):
    return subprocess.run([CLEANCRAWL, *args], capture_output=True, text=True, timeout=600)


def error_lines(run):
    """The command's own error lines (Beam may log a warning of its own on import)."""
    return [line for line in run.stderr.splitlines() if line.startswith("cleancrawl build: error:")]


def stats_of(out):
    with open(os.path.join(out, "stats.json")) as f:
        return json.load(f)


def first_members(path, n):
    """The first n gzip members (records) of a Common Crawl file."""
    import zlib
    data, out = open(path, "rb").read(), b""
    for _ in range(n):
        inflater = zlib.decompressobj(31)
        inflater.decompress(data)
        size = len(data) - len(inflater.unused_data)
        out, data = out + data[:size], data[size:]
    return out


def test_a_cut_gzip_file_is_a_file_error_and_strict_exits_1(tmp_path):
    data = first_members(SAMPLE_WET, 12)
    cut = len(data) - 1500  # inside the 12th record's member
    path = tmp_path / "cut.warc.wet.gz"
    path.write_bytes(data[:cut])
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", str(path), "--output", out, "--strict")
    assert run.returncode == 1, run.stderr
    stats = stats_of(out)
    (error,) = stats["file_errors"]
    assert error["file"] == str(path) and error["reason"] == "truncated_file"
    assert f"the file ends at byte {cut}, inside the gzip member" in error["detail"]
    assert stats["funnel"][0]["in"] == 12 and stats["totals"]["balanced"]  # 11 records and the file error
    assert f"{path}: truncated_file" in run.stdout
    # Without --strict the same build succeeds: the loss is named, the run goes on.
    assert cli_main(["build", "--input", str(path), "--output", out, "--overwrite"]) == 0


def _with_length(record: bytes, delta: int) -> bytes:
    head, rest = record.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    return head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta)) + b"\r\n\r\n" + rest


def _texts(out):
    import pyarrow.parquet as pq
    return [t for split in ("train", "validation") if os.path.isdir(os.path.join(out, split))
            for t in pq.read_table(os.path.join(out, split)).column("text").to_pylist()]


def test_an_overstated_length_ending_at_the_next_header_is_repaired_and_counted(tmp_path):
    """The next WARC header ends the record unambiguously: read up to there, counted under
    events (read: content_length_repaired), no file error, --strict passes."""
    plain = gzip.decompress(first_members(SAMPLE_WET, 30))
    starts = [m.start() for m in re.finditer(rb"WARC/1\.0\r\nWARC-Date", plain)]
    path = tmp_path / "overstated.warc.wet"
    path.write_bytes(plain[:starts[5]] + _with_length(plain[starts[5]:starts[6]], 3000) + plain[starts[6]:])
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", str(path), "--output", out, "--strict", "--skip", "clean,langid,badwords")
    assert run.returncode == 0, run.stderr
    stats = stats_of(out)
    assert stats["file_errors"] == [] and stats["events"]["read"] == {"content_length_repaired": 1}
    assert stats["totals"]["kept"] == 30 and stats["totals"]["balanced"]
    texts = _texts(out)
    assert len(texts) == 30 and not any("WARC/1.0" in t or "WARC-Record-ID" in t for t in texts)


def test_an_overstated_length_that_cannot_be_delimited_is_named_strict_fails_and_no_record_carries_another(tmp_path):
    """Record 5 declares bytes past record 7's header, and record 6's `WARC/1.0` line is damaged:
    between record 5 and the first header after it lies another record's header, so that header
    is no safe end for record 5. It is dropped (record 6 with it), named with its offset."""
    plain = gzip.decompress(first_members(SAMPLE_WET, 30))
    starts = [m.start() for m in re.finditer(rb"WARC/1\.0\r\nWARC-Date", plain)]
    record = _with_length(plain[starts[5]:starts[6]], starts[8] - starts[5])
    broken = b"WARX" + plain[starts[6] + 4:starts[7]]
    path = tmp_path / "overstated.warc.wet"
    path.write_bytes(plain[:starts[5]] + record + broken + plain[starts[7]:])
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", str(path), "--output", out, "--strict", "--skip", "clean,langid,badwords")
    assert run.returncode == 1, run.stderr
    stats = stats_of(out)
    assert [(e["reason"], f"record at byte {starts[5]} " in e["detail"]) for e in stats["file_errors"]] == \
        [("truncated_record", True)]
    assert stats["dropped"]["read"] == {"truncated_record": {"documents": 1, "bytes": 0}}
    assert "read" not in stats["events"]
    assert stats["totals"]["kept"] == 28 and stats["totals"]["balanced"]
    texts = _texts(out)
    assert len(texts) == 28 and not any("WARC/1.0" in t or "WARC-Record-ID" in t or "WARX" in t for t in texts)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_text_file_is_not_warc_and_its_contents_never_reach_stats_or_the_terminal(tmp_path, gzipped):
    text = open(os.path.join(DATA_DIR, "text", "botchan.txt"), "rb").read()
    path = tmp_path / ("notes.txt.gz" if gzipped else "notes.txt")
    path.write_bytes(gzip.compress(text) if gzipped else text)
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", str(path), "--input", WHIRLWIND_WET, "--output", out, "--strict")
    assert run.returncode == 1
    stats = stats_of(out)
    assert [(e["file"], e["reason"]) for e in stats["file_errors"]] == [(str(path), "not_warc")]
    assert "bad_http_headers" not in stats["dropped"].get("read", {})
    first_line = text.split(b"\n")[0].decode().strip()
    printed = run.stdout + run.stderr + open(os.path.join(out, "stats.json")).read()
    assert first_line and first_line[:25] not in printed


def test_input_folder_with_and_without_slash_reads_the_same_files(tmp_path):
    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in ("whirlwind.warc.wet.gz", "CC-MAIN-2022-05-one-page.warc.gz"):
        (folder / name).write_bytes(open(os.path.join(COMMONCRAWL, name), "rb").read())
    results = []
    for i, given in enumerate([str(folder), str(folder) + "/"]):
        out = str(tmp_path / f"out{i}")
        assert cli_main(["build", "--input", given, "--output", out, "--strict"]) == 0
        stats = stats_of(out)
        results.append((sorted(stats["files"]), stats["totals"]))
    assert results[0] == results[1] and len(results[0][0]) == 2


def test_names_that_begin_with_a_dot_are_never_inputs(tmp_path):
    """A hidden file (a download in progress, an editor's swap file) is not read, whether a folder,
    a glob or its own name gives it."""
    from cleancrawl.corpus.errors import UserError
    from cleancrawl.pipelines.config import BuildConfig
    from cleancrawl.pipelines.read import resolve_inputs

    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in ("a.warc.wet.gz", ".b.warc.wet.gz", ".a.warc.wet.gz.part"):
        (folder / name).write_bytes(b"")
    assert resolve_inputs(BuildConfig(inputs=[str(folder)])) == [str(folder / "a.warc.wet.gz")]
    for hidden in (".*", ".b.warc.wet.gz"):
        with pytest.raises(UserError, match="no input file matches"):
            resolve_inputs(BuildConfig(inputs=[str(folder / hidden)]))


def test_input_list_of_a_private_file_is_refused_without_quoting_it(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$Zs3cr3tSalt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    run = cleancrawl("build", "--input-list", str(shadow), "--output", str(tmp_path / "out"))
    assert run.returncode == 2
    (line,) = error_lines(run)
    assert "line 1 does not name a WARC/WET/ARC file" in line and "Traceback" not in run.stderr
    assert "s3cr3t" not in run.stderr + run.stdout and "99999" not in run.stderr + run.stdout
    assert not os.path.exists(tmp_path / "out")


def test_input_list_entries_may_not_leave_the_prefix(tmp_path):
    prefix = tmp_path / "crawl"
    prefix.mkdir()
    (prefix / "a.warc.wet.gz").write_bytes(open(WHIRLWIND_WET, "rb").read())
    listing = tmp_path / "wet.paths"
    for bad in ("../outside.warc.gz", "x/../../outside.warc.gz", "/etc/outside.warc.gz"):
        listing.write_text(f"a.warc.wet.gz\n{bad}\n")
        run = cleancrawl("build", "--input-list", str(listing), "--input-prefix", str(prefix),
                         "--output", str(tmp_path / "out"))
        assert run.returncode == 2, bad
        (line,) = error_lines(run)
        assert "line 2 leaves --input-prefix" in line and "Traceback" not in run.stderr
    listing.write_text("a.warc.wet.gz\nsub/../a.warc.wet.gz\n")  # stays inside: fine
    assert cli_main(["build", "--input-list", str(listing), "--input-prefix", str(prefix),
                     "--output", str(tmp_path / "ok"), "--strict"]) == 0


def test_a_remote_folder_with_and_without_slash_lists_the_same_files():
    pytest.importorskip("moto.server", reason="dev dependency: pip install -e '.[dev]'")
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions
    from test_remote import reset_filesystem_options, s3

    from cleancrawl.pipelines.build import BuildConfig, resolve_inputs

    server = s3.__wrapped__()
    client, options = next(server)
    try:
        # moto's servers in one process share one store: the object goes again in `finally`, or a
        # later test module in this worker would find a second file under cc/segment-0/.
        client.upload_file(WHIRLWIND_WET, "crawl", "cc/segment-0/whirlwind.warc.wet.gz")
        FileSystems.set_options(PipelineOptions(options))
        folder = ["s3://crawl/cc/segment-0/pages.warc.wet.gz", "s3://crawl/cc/segment-0/whirlwind.warc.wet.gz"]
        assert resolve_inputs(BuildConfig(inputs=["s3://crawl/cc/segment-0"])) == folder
        assert resolve_inputs(BuildConfig(inputs=["s3://crawl/cc/segment-0/"])) == folder
        assert resolve_inputs(BuildConfig(inputs=[folder[1]])) == folder[1:]
    finally:
        client.delete_object(Bucket="crawl", Key="cc/segment-0/whirlwind.warc.wet.gz")
        next(server, None)
        reset_filesystem_options()


def _parquet_column(out, column):
    import pyarrow.parquet as pq
    return [v for split in ("train", "validation") if os.path.isdir(os.path.join(out, split))
            for v in pq.read_table(os.path.join(out, split)).column(column).to_pylist()]


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(tmp_path):
    """Any byte string is a POSIX file name: b'bad\\xff.warc.wet.gz' in an input folder is read
    like any file, and named `bad\\xff.warc.wet.gz` in stats.json, the shards' source_file and
    the terminal; never a traceback."""
    folder = os.path.join(os.fsencode(str(tmp_path)), b"crawl")
    os.mkdir(folder)
    with open(os.path.join(folder, b"bad\xff.warc.wet.gz"), "wb") as f:
        f.write(first_members(SAMPLE_WET, 5))
    with open(os.path.join(folder, b"good.warc.wet.gz"), "wb") as f:
        f.write(open(WHIRLWIND_WET, "rb").read())
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", os.fsdecode(folder), "--output", out, "--strict",
                     "--skip", "clean,langid,badwords")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "\udcff" not in run.stdout
    shown = f"{tmp_path}/crawl/bad\\xff.warc.wet.gz"
    stats = stats_of(out)
    assert sorted(stats["files"]) == [shown, f"{tmp_path}/crawl/good.warc.wet.gz"]
    assert stats["files"][shown]["read"] == 5 and stats["files"][shown]["kept"] == 5
    assert stats["file_errors"] == [] and stats["totals"]["balanced"]
    assert _parquet_column(out, "source_file").count(shown) == 5
    # Named itself on the command line: read too, and recorded in stats.json's config the same way.
    direct = cleancrawl("build", "--input", os.fsdecode(os.path.join(folder, b"bad\xff.warc.wet.gz")), "--output",
                        str(tmp_path / "direct"), "--skip", "clean,langid,badwords")
    assert direct.returncode == 0, direct.stderr
    assert stats_of(str(tmp_path / "direct"))["config"]["inputs"] == [shown]


def test_a_dangling_symlink_in_an_input_folder_is_a_named_file_error(tmp_path):
    folder = tmp_path / "crawl"
    folder.mkdir()
    (folder / "whirlwind.warc.wet.gz").write_bytes(open(WHIRLWIND_WET, "rb").read())
    (folder / "gone.warc.wet.gz").symlink_to(tmp_path / "moved-away.warc.wet.gz")
    out = str(tmp_path / "out")
    run = cleancrawl("build", "--input", str(folder), "--output", out, "--strict", "--max-failed-files", "0.5")
    assert run.returncode == 1, run.stderr  # --strict: a file error
    stats = stats_of(out)
    link = str(folder / "gone.warc.wet.gz")
    assert stats["file_errors"] == [{"file": link, "reason": "read_error", "detail":
                                     f"a symbolic link whose target does not exist "
                                     f"(it points to {tmp_path}/moved-away.warc.wet.gz)"}]
    assert stats["files"][link]["read"] == 1 and stats["totals"]["balanced"]
    assert f"{link}: read_error" in run.stdout
    # Named alone, it stops the command at once, with one line.
    run = cleancrawl("build", "--input", link, "--output", str(tmp_path / "out2"))
    assert run.returncode == 2 and error_lines(run) == [
        f"cleancrawl build: error: --input {link} is a symbolic link whose target does not exist"]


def test_an_arc_build_is_byte_identical_from_run_to_run(tmp_path):
    """warcio gives ARC records random ids; the reader derives them from each record, so two
    builds of one ARC file write the same bytes."""
    arc = os.path.join(DATA_DIR, "warc-edge-cases", "warcio-example.arc")
    shards = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert cli_main(["build", "--input", arc, "--output", str(out), "--skip", "clean,langid,badwords"]) == 0
        shards.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))})
    assert shards[0] == shards[1] and len(shards[0]) >= 2
    assert stats_of(str(tmp_path / "a"))["totals"]["kept"] == 1
