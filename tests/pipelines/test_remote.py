"""The build reads and writes an object store through Beam's FileSystems: S3, served by moto on
this machine's loopback interface (no network), with the endpoint given as Beam options."""
import io
import os
import socket

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE_WET
from corpus import shards as layout
from corpus.dedup import DedupConfig
from corpus.errors import UserError
from pipelines.build import BuildConfig, run_build

boto3 = pytest.importorskip("boto3", reason="dev dependency: pip install -e '.[dev]'")
moto_server = pytest.importorskip("moto.server", reason="dev dependency: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def s3():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="crawl")
    client.upload_file(SAMPLE_WET, "crawl", "cc/segment-0/pages.warc.wet.gz")
    client.put_object(Bucket="crawl", Key="cc/wet.paths", Body=b"cc/segment-0/pages.warc.wet.gz\n")
    options = [f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=testing",
               "--s3_secret_access_key=testing", "--s3_region_name=us-east-1"]
    yield client, options
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def keys(client, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="crawl", Prefix=prefix).get("Contents", []))


def test_build_from_s3_to_s3_matches_a_local_build(s3, tmp_path):
    client, options = s3
    stats = run_build(BuildConfig(inputs=["s3://crawl/cc/*/*.warc.wet.gz"], output="s3://crawl/out"), options)
    assert stats["totals"]["balanced"] and stats["totals"]["read"] == 323
    assert keys(client, "out/") == ["out/_SUCCESS", "out/duplicates/part-00000-of-00001.parquet", "out/stats.json",
                                    "out/train/part-00000-of-00001.parquet", "out/validation/part-00000-of-00001.parquet"]
    assert layout.list_shards("s3://crawl/out") == ["s3://crawl/out/train/part-00000-of-00001.parquet"]
    assert layout.read_stats("s3://crawl/out")["totals"] == stats["totals"]

    local = str(tmp_path / "local")
    run_build(BuildConfig(inputs=[SAMPLE_WET], output=local))
    remote = client.get_object(Bucket="crawl", Key="out/train/part-00000-of-00001.parquet")["Body"].read()
    remote_table = pq.read_table(io.BytesIO(remote))
    local_table = pq.read_table(os.path.join(local, "train", "part-00000-of-00001.parquet"))
    assert set(remote_table.column("source_file").to_pylist()) == {"s3://crawl/cc/segment-0/pages.warc.wet.gz"}
    # Same documents, same text, same order: only where they were read from differs.
    assert remote_table.drop(["source_file"]).equals(local_table.drop(["source_file"]))

    # A finished remote build is refused without --overwrite, replaced with it.
    with pytest.raises(UserError, match="finished build"):
        run_build(BuildConfig(inputs=["s3://crawl/cc/*/*.warc.wet.gz"], output="s3://crawl/out"), options)
    run_build(BuildConfig(inputs=["s3://crawl/cc/*/*.warc.wet.gz"], output="s3://crawl/out", overwrite=True), options)
    assert "out/_SUCCESS" in keys(client, "out/")


def test_paths_listing_with_a_prefix(s3):
    client, options = s3
    stats = run_build(BuildConfig(input_list="s3://crawl/cc/wet.paths", input_prefix="s3://crawl/",
                                  output="s3://crawl/from-listing", dedup=DedupConfig(methods=())), options)
    assert list(stats["files"]) == ["s3://crawl/cc/segment-0/pages.warc.wet.gz"]
    assert stats["totals"]["read"] == 323


def test_a_missing_remote_file_is_a_counted_read_error(s3):
    client, options = s3
    client.put_object(Bucket="crawl", Key="cc/missing.paths", Body=b"cc/segment-9/gone.warc.wet.gz\ncc/segment-0/pages.warc.wet.gz\n")
    stats = run_build(BuildConfig(input_list="s3://crawl/cc/missing.paths", input_prefix="s3://crawl/",
                                  output="s3://crawl/with-missing"), options)
    assert [(e["file"], e["reason"]) for e in stats["file_errors"]] == [("s3://crawl/cc/segment-9/gone.warc.wet.gz", "read_error")]
    assert stats["totals"]["balanced"] and stats["totals"]["read"] == 324
