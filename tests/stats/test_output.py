"""stats.output: where `cleancrawl stats --json/--html` may write (issue #21: nothing clobbered),
through the real CLI on a real build.

Every refusal is one line on stderr, exit 2, no traceback, and nothing written or replaced:
checked by a snapshot (every file's bytes) of the build and of the places around it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl import layout, output_folder, storage
from cleancrawl.stats import output

from stats_testdata import QUIET, build_sample, refused, run, sample_documents


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real build of the bundled sample crawl (DirectRunner), in 2 train shards."""
    out = str(tmp_path_factory.mktemp("report-output") / "out")
    build_sample(out, num_shards=2)
    return out


@pytest.fixture(scope="module")
def other_corpus(tmp_path_factory):
    """A plain folder of Parquet (url, text) from another tool: the sample's pages, no build record."""
    folder = tmp_path_factory.mktemp("other")
    docs = sample_documents()[:60]
    pq.write_table(pa.table({"url": [d.url for d in docs], "text": [d.text for d in docs]}), folder / "part-0.parquet")
    return str(folder)


def snapshot(folder: str) -> dict[str, str]:
    """Every file under `folder` (relative path → sha256 of its bytes)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


def real_png() -> bytes:
    """A PNG the user drew with matplotlib (no cleancrawl signature)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    data = io.BytesIO()
    fig.savefig(data, format="png")
    plt.close(fig)
    return data.getvalue()


# ---------------------------------------------------------------------------- into a build

@pytest.mark.parametrize("where", [
    ["--html", "{out}"], ["--json", "{out}/stats.json"], ["--html", "{out}/report"],
    ["--json", "{out}/train/report.json"], ["--json", "{out}/report.json", "--overwrite"],
    ["--html", "{out}", "--overwrite"],
])
def test_a_report_into_the_build_it_reads_is_refused_and_the_build_is_untouched(built, where, capsys):
    before = snapshot(built)
    err = refused(capsys, built, *[w.format(out=built) for w in where], *QUIET)
    assert f"overlaps the input {built}" in err and where[0] in err
    assert snapshot(built) == before
    # the build's record still balances, and build --overwrite would find only its own files
    code, err = run(capsys, built, *QUIET)
    assert code == 0 and "warning" not in err
    assert output_folder.output_files(built, layout.CORPUS_LAYOUT)[1] is None


def test_a_report_inside_another_cleancrawl_output_is_refused(built, other_corpus, tmp_path, capsys):
    before = snapshot(built)
    for option, path in (("--html", f"{built}/report"), ("--json", f"{built}/report.json"),
                         ("--html", f"{built}/train/deeper/report"), ("--json", f"{built}/validation/x.json")):
        err = refused(capsys, other_corpus, option, path, *QUIET)
        assert f"{option} {path} is inside {os.path.realpath(built)}" in err
        assert "cleancrawl output folder (it holds _SUCCESS)" in err
    assert snapshot(built) == before
    # a folder that holds only a build's stats.json, or a run's lock, is an output folder too
    record = tmp_path / "record"
    record.mkdir()
    shutil.copy(os.path.join(built, "stats.json"), record / "stats.json")
    err = refused(capsys, other_corpus, "--html", str(record / "report"), *QUIET)
    assert "(it holds stats.json)" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / output_folder.LOCK_FILE).write_text("{}")
    err = refused(capsys, other_corpus, "--json", str(locked / "s.json"), *QUIET)
    assert "(it holds _cleancrawl.lock)" in err
    assert sorted(os.listdir(record)) == ["stats.json"] and sorted(os.listdir(locked)) == [output_folder.LOCK_FILE]


def test_a_real_process_refuses_in_one_line(built):
    before = snapshot(built)
    done = subprocess.run([sys.executable, "-m", "cleancrawl", "stats", built, "--html", built, *QUIET],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert snapshot(built) == before


# ---------------------------------------------------------------------------- the HTML folder

def test_html_folder_is_the_reports_own(built, other_corpus, tmp_path, capsys):
    report = tmp_path / "report"
    assert run(capsys, built, "--html", str(report), *QUIET)[0] == 0
    first = snapshot(str(report))
    pngs = {n for n in first if n.endswith(".png")}
    # no lock, no .tmp-
    assert {"funnel.png", "lengths.png"} <= pngs and set(first) == {"index.html", "stats.json", *pngs}
    for name in first:  # every file carries the signature by which it is recognised later
        assert output.is_signed(str(report / name)), name

    # again: an earlier report is replaced only with --overwrite
    err = refused(capsys, built, "--html", str(report), *QUIET)
    assert "already holds a report of cleancrawl stats; pass --overwrite" in err
    assert snapshot(str(report)) == first
    # --overwrite with a corpus that has no funnel: the old report's funnel plot goes with it
    assert run(capsys, other_corpus, "--html", str(report), "--overwrite", *QUIET)[0] == 0
    second = snapshot(str(report))
    assert "funnel.png" not in second and "index.html" in second and second["stats.json"] != first["stats.json"]
    assert json.loads((report / "stats.json").read_text())["corpora"][0]["path"] == other_corpus


@pytest.mark.parametrize("name, content", [
    ("index.html", b"<!DOCTYPE html><html><body>my own page</body></html>\n"),
    ("funnel.png", "png"),
    ("stats.json", "build"),
    ("notes.txt", b"mine\n"),
])
def test_html_never_replaces_the_users_files_even_with_overwrite(built, other_corpus, tmp_path, capsys, name, content):
    report = tmp_path / "report"
    report.mkdir()
    data = real_png() if content == "png" else open(os.path.join(built, "stats.json"), "rb").read() \
        if content == "build" else content
    (report / name).write_bytes(data)
    for extra in ([], ["--overwrite"]):
        err = refused(capsys, other_corpus, "--html", str(report), *extra, *QUIET)
        assert f"holds {name}, which cleancrawl stats did not write" in err
        assert os.listdir(report) == [name] and (report / name).read_bytes() == data


def test_html_refuses_a_file_in_place_of_the_folder(other_corpus, tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("a file\n")
    assert "is a file" in refused(capsys, other_corpus, "--html", str(target), "--overwrite", *QUIET)
    assert target.read_text() == "a file\n"


# ---------------------------------------------------------------------------- the JSON file

def test_json_replaces_only_its_own_document_and_only_with_overwrite(built, other_corpus, tmp_path, capsys):
    path = tmp_path / "stats.json"
    assert run(capsys, built, "--json", str(path), *QUIET)[0] == 0
    first = path.read_bytes()
    assert json.loads(first)["generated_by"] == "cleancrawl stats"
    assert "already holds a stats document; pass --overwrite" in refused(capsys, other_corpus, "--json", str(path),
                                                                         *QUIET)
    assert path.read_bytes() == first
    assert run(capsys, other_corpus, "--json", str(path), "--overwrite", *QUIET)[0] == 0
    assert json.loads(path.read_bytes())["corpora"][0]["path"] == other_corpus
    assert sorted(os.listdir(tmp_path)) == ["stats.json"]  # no temporary file left


@pytest.mark.parametrize("content", ["build", "other"])
def test_json_never_replaces_a_file_stats_did_not_write(built, other_corpus, tmp_path, capsys, content):
    path = tmp_path / ("stats.json" if content == "build" else "results.json")
    data = open(os.path.join(built, "stats.json"), "rb").read() if content == "build" else b'{"mine": 1}\n'
    path.write_bytes(data)
    for extra in ([], ["--overwrite"]):
        err = refused(capsys, other_corpus, "--json", str(path), *extra, *QUIET)
        if content == "build":  # a build's record: its folder is a build's, written into by nobody else
            assert "a cleancrawl output folder (it holds stats.json)" in err
        else:
            assert "was not written by cleancrawl stats" in err
        assert path.read_bytes() == data and os.listdir(tmp_path) == [path.name]


def test_json_inside_the_html_folder_or_on_a_folder_is_refused(other_corpus, tmp_path, capsys):
    err = refused(capsys, other_corpus, "--html", str(tmp_path / "r"), "--json", str(tmp_path / "r" / "stats.json"),
                  *QUIET)
    assert "inside the --html folder" in err
    assert "is a folder" in refused(capsys, other_corpus, "--json", str(tmp_path), *QUIET)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- places that cannot be written

@pytest.mark.parametrize("option", ["--html", "--json"])
def test_an_unwritable_place_is_one_line_before_the_scan(other_corpus, tmp_path, capsys, monkeypatch, option):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file\n")
    err = refused(capsys, other_corpus, option, str(blocker / "sub" / "out"), *QUIET)
    assert f"cannot write there: {blocker} is a file, not a folder" in err
    # a read-only folder (tests run as root, which ignores modes: as the kernel would answer another user)
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access",
                        lambda p, mode, **kw: False if str(p) == str(folder) else real_access(p, mode, **kw))
    err = refused(capsys, other_corpus, option, str(folder / "out"), *QUIET)
    assert f"cannot write there: {folder} is read-only" in err
    assert os.listdir(folder) == [] and sorted(os.listdir(tmp_path)) == ["file", "ro"]


@pytest.mark.parametrize("option", ["--html", "--json"])
def test_a_write_that_fails_after_the_scan_is_one_line(other_corpus, tmp_path, capsys, monkeypatch, option):
    monkeypatch.setattr(output, "_check_writable", lambda *a: None)  # the place turns unwritable during the scan
    blocker = tmp_path / "file"
    blocker.write_text("a regular file\n")
    err = refused(capsys, other_corpus, option, str(blocker / "out"), *QUIET)
    assert str(blocker) in err and "Not a directory" in err

    def denied(path, data):
        raise PermissionError(13, "Permission denied", f"{path}.tmp-1")
    monkeypatch.setattr(storage, "write_atomically", denied)
    target = tmp_path / "target"
    err = refused(capsys, other_corpus, option, str(target / "out"), *QUIET)
    assert "cannot write: Permission denied" in err
    # nothing left: no file, no lock (released), and no folder it created for the output
    assert sorted(os.listdir(tmp_path)) == ["file"]


# ---------------------------------------------------------------------------- an object store

@pytest.fixture(scope="module")
def s3():
    """S3 served by moto on the loopback interface; yields (client, Beam file-system options)."""
    import socket

    boto3 = pytest.importorskip("boto3", reason="dev dependency: pip install -e '.[dev]'")
    moto_server = pytest.importorskip("moto.server", reason="dev dependency: pip install -e '.[dev]'")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    client.create_bucket(Bucket="crawl")
    yield client, [f"--s3_endpoint_url=http://127.0.0.1:{port}", "--s3_access_key_id=testing",
                   "--s3_secret_access_key=testing", "--s3_region_name=us-east-1"]
    server.stop()
    from apache_beam.io.filesystems import FileSystems
    FileSystems.set_options(None)  # as a fresh process: the options point at this server
    storage._filesystem_args.clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_reports_on_an_object_store_follow_the_same_rules(s3, other_corpus, capsys):
    client, options = s3

    def keys(prefix):
        return sorted(o["Key"] for o in client.list_objects_v2(Bucket="crawl", Prefix=prefix).get("Contents", []))

    args = [other_corpus, "--html", "s3://crawl/report", "--json", "s3://crawl/doc.json", *QUIET, *options]
    assert run(capsys, *args)[0] == 0
    written = keys("report/")
    assert "report/index.html" in written and "report/lengths.png" in written and "report/stats.json" in written
    assert not [k for k in written if ".tmp-" in k or k.endswith(output_folder.LOCK_FILE)]
    assert (json.loads(client.get_object(Bucket="crawl", Key="doc.json")["Body"].read())["generated_by"]
            == "cleancrawl stats")
    assert "pass --overwrite" in refused(capsys, *args)
    assert run(capsys, *args, "--overwrite")[0] == 0 and keys("report/") == written
    # the user's file in the report's place, and a build's folder, are refused; nothing changes
    client.put_object(Bucket="crawl", Key="mine/index.html", Body=b"<html>mine</html>\n")
    client.put_object(Bucket="crawl", Key="built/_SUCCESS", Body=layout.SUCCESS_CONTENT)
    for where, said in ((["--html", "s3://crawl/mine", "--overwrite"],
                         "holds index.html, which cleancrawl stats did not write"),
                        (["--html", "s3://crawl/built/report"],
                         "is inside s3://crawl/built, a cleancrawl output folder"),
                        (["--json", "s3://crawl/built/doc.json"], "(it holds _SUCCESS)")):
        assert said in refused(capsys, other_corpus, *where, *QUIET, *options)
    assert keys("mine/") == ["mine/index.html"] and keys("built/") == ["built/_SUCCESS"]
