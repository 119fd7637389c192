"""The build reads and writes an object store through Beam's FileSystems: S3, served by moto on
this machine's loopback interface (no network), with the endpoint given as Beam options."""
import io
import json
import os
import socket

import pyarrow.parquet as pq
import pytest

from cleancrawl import layout, storage
from cleancrawl.corpus.dedup import DedupConfig
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.build import BuildConfig, run_build

from datapaths import SAMPLE_WET

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
    reset_filesystem_options()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def reset_filesystem_options() -> None:
    """Forget the options any test set (they point at this module's server), as a fresh process."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.value_provider import RuntimeValueProvider

    FileSystems.set_options(None)
    RuntimeValueProvider.set_runtime_options(None)  # a DirectRunner run leaves its options there too
    storage._filesystem_args.clear()


def keys(client, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="crawl", Prefix=prefix).get("Contents", []))


def test_build_from_s3_to_s3_matches_a_local_build(s3, tmp_path):
    client, options = s3
    stats = run_build(BuildConfig(inputs=["s3://crawl/cc/*/*.warc.wet.gz"], output="s3://crawl/out"), options)
    assert stats["totals"]["balanced"] and stats["totals"]["read"] == 323
    assert keys(client, "out/") == ["out/README.md", "out/_SUCCESS", "out/duplicates/part-00000-of-00001.parquet",
                                    "out/stats.json", "out/train/part-00000-of-00001.parquet",
                                    "out/validation/part-00000-of-00001.parquet"]
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
    client.put_object(Bucket="crawl", Key="cc/missing.paths",
                      Body=b"cc/segment-9/gone.warc.wet.gz\ncc/segment-0/pages.warc.wet.gz\n")
    stats = run_build(BuildConfig(input_list="s3://crawl/cc/missing.paths", input_prefix="s3://crawl/",
                                  output="s3://crawl/with-missing", max_failed_files=0.5), options)
    assert ([(e["file"], e["reason"]) for e in stats["file_errors"]]
            == [("s3://crawl/cc/segment-9/gone.warc.wet.gz", "read_error")])
    assert stats["totals"]["balanced"] and stats["totals"]["read"] == 324


def test_tokenize_from_and_to_s3_equals_a_local_tokenize(s3, tmp_path):
    """build → s3 corpus → tokenize → s3 token directory → staged by pretraining: the same bytes
    as tokenizing a local build of the same crawl."""
    from cleancrawl.pretrain.data import load_corpus, stage_tokens
    from cleancrawl.storage import set_filesystem_options
    from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus
    from cleancrawl.tokenizer.train import TokenizerTrainConfig, train_tokenizer

    client, options = s3
    no_dedup = DedupConfig(methods=())
    run_build(BuildConfig(inputs=[SAMPLE_WET], output="s3://crawl/tok-corpus", dedup=no_dedup), options)
    local_corpus = str(tmp_path / "corpus")
    run_build(BuildConfig(inputs=[SAMPLE_WET], output=local_corpus, dedup=no_dedup))
    tok = str(tmp_path / "tok")
    set_filesystem_options(options)  # what `cleancrawl tokenize ... --s3_endpoint_url=...` does
    train_tokenizer(TokenizerTrainConfig(corpus="s3://crawl/tok-corpus", output=tok, kind="byte-bpe", vocab_size=600,
                                threads=2), progress=False)

    # Two spawned worker processes: each must get the endpoint and keys from the parent.
    remote = tokenize_corpus(TokenizeConfig(tokenizer=tok, corpus="s3://crawl/tok-corpus",
                                            output="s3://crawl/tokens", workers=2), progress=False)
    local = tokenize_corpus(TokenizeConfig(tokenizer=tok, corpus=local_corpus, output=str(tmp_path / "tokens"),
                                           workers=1), progress=False)
    assert keys(client, "tokens/") == ["tokens/manifest.json", "tokens/tokenizer/tokenizer.json",
                                       "tokens/train/part-00000-of-00001.tok",
                                       "tokens/validation/part-00000-of-00001.tok"]
    assert remote.tokens == local.tokens > 0 and remote.documents == local.documents
    assert remote.manifest["splits"] == local.manifest["splits"]
    assert remote.manifest["corpus"] == "s3://crawl/tok-corpus"
    staged = stage_tokens("s3://crawl/tokens", str(tmp_path / "staged"))
    for relative in ("train/part-00000-of-00001.tok", "validation/part-00000-of-00001.tok"):
        with open(os.path.join(staged, relative), "rb") as a, \
                open(os.path.join(tmp_path, "tokens", relative), "rb") as b:
            assert a.read() == b.read()
    assert load_corpus(staged).vocab_size == 600
    assert os.path.isfile(os.path.join(staged, "tokenizer", "tokenizer.json"))  # staged with it: --eval encodes

    # An existing remote token directory is refused without --overwrite, replaced with it.
    with pytest.raises(UserError, match="--overwrite"):
        tokenize_corpus(TokenizeConfig(tokenizer=tok, corpus=local_corpus, output="s3://crawl/tokens", workers=1),
                        progress=False)
    tokenize_corpus(TokenizeConfig(tokenizer=tok, corpus=local_corpus, output="s3://crawl/tokens", workers=1,
                                   overwrite=True), progress=False)
    assert len(keys(client, "tokens/")) == 4
    # Staged again: the manifest changed (another corpus path), so the old cache is emptied first.
    stale = os.path.join(staged, "train", "stale.tok")
    open(stale, "wb").close()
    stage_tokens("s3://crawl/tokens", staged)
    assert not os.path.exists(stale)
    with open(os.path.join(staged, "manifest.json"), encoding="utf-8") as f:
        assert json.load(f)["corpus"] == os.path.abspath(local_corpus)


def test_stats_cli_reads_s3_with_file_system_options_and_rejects_unknown_ones(s3, capsys, tmp_path):
    from cleancrawl.cli import main

    _, options = s3
    run_build(BuildConfig(inputs=[SAMPLE_WET], output="s3://crawl/for-stats", dedup=DedupConfig(methods=())), options)
    assert main(["stats", "s3://crawl/for-stats", "--json", str(tmp_path / "stats.json"), *options]) == 0
    with open(tmp_path / "stats.json", encoding="utf-8") as f:
        corpus = json.load(f)["corpora"][0]
    assert corpus["funnel"]["documents"]["read"] == 323 and corpus["funnel"]["balanced"]
    assert corpus["problems"] == [] and corpus["contents"]["documents"] == corpus["funnel"]["documents"]["kept"]
    capsys.readouterr()
    with pytest.raises(UserError, match="unrecognized arguments: --s3_endpoint=http://x stray$"):
        from cleancrawl.storage import set_filesystem_options
        set_filesystem_options(["--s3_endpoint=http://x", "stray", "--project", "p"])
    with pytest.raises(UserError, match="unrecognized arguments: stray$"):  # a flag takes no value
        set_filesystem_options(["--s3_disable_ssl", "stray"])
    with pytest.raises(UserError, match="--s3_endpoint_url: expected one argument"):
        set_filesystem_options(["--s3_endpoint_url"])
    assert main(["tokenize", "--tokenizer", "t", "--corpus", "c", "--output", "o", "--bogus=1"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_s3_without_any_options_uses_the_default_credentials(s3, monkeypatch):
    """No --s3_* options at all: Beam's S3 client still needs options set, and gets empty ones,
    so boto3's defaults apply (here the endpoint from AWS_ENDPOINT_URL_S3, as a user's config would)."""
    client, options = s3
    run_build(BuildConfig(inputs=[SAMPLE_WET], output="s3://crawl/default-creds", dedup=DedupConfig(methods=())),
              options)
    reset_filesystem_options()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", options[0].split("=", 1)[1])
    assert layout.list_shards("s3://crawl/default-creds") == ["s3://crawl/default-creds/train/part-00000-of-00001.parquet"]
    assert layout.read_stats("s3://crawl/default-creds")["totals"]["read"] == 323
