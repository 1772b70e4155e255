"""The otlp_files source reading the awss3exporter's objects from an S3-compatible server.

The server is moto's (a real HTTP server on loopback speaking the S3 REST API); objects are
laid out as the collector's ``awss3exporter`` writes them (``otlp_json`` marshaler: one
request per object, no newline; ``compression: gzip`` adds ``.gz``).
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import boto3
import pytest
from otel_helpers import collector_lines, llm_span, write_lines

from finops.api.pull import load_config, pull
from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, DataError
from finops.sources import object_store, otlp_file
from finops.windows import month_window

W0, W1 = date(2026, 10, 1), date(2026, 10, 8)


@pytest.fixture(scope="module")
def server():
    from moto.server import ThreadedMotoServer
    s = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s.start()
    host, port = s.get_host_and_port()
    yield f"http://{host}:{port}"
    s.stop()


@pytest.fixture
def s3(server, monkeypatch, request):
    """A fresh bucket on the loopback server; credentials only in the environment."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    object_store._CLIENTS.clear()
    c = boto3.client("s3", endpoint_url=server, region_name="us-east-1")
    bucket = "otel-" + request.node.name.replace("_", "-")[:40].lower()
    c.create_bucket(Bucket=bucket)
    yield c, bucket, server
    object_store._CLIENTS.clear()


SPANS = [llm_span(f"2026-10-0{d}T{h:02d}:10:00Z", input_tokens=100 * d + h, output_tokens=h,
                  resource={"team.id": f"team-{h % 3}"}) for d in (1, 2, 5) for h in (0, 11, 23)]


def exporter_key(when: str, n: int, gz: bool, prefix: str = "traces") -> str:
    y, m, d, hh = when[:4], when[5:7], when[8:10], when[11:13]
    return (f"{prefix}/year={y}/month={m}/day={d}/hour={hh}/minute=10/"
            f"traces_{n:09d}.json" + (".gz" if gz else ""))


def put_spans(c, bucket: str, spans: list[dict], gz: bool = True) -> list[str]:
    """One object per span batch (here: per span), keyed by its upload time."""
    keys = []
    for i, (sp, line) in enumerate(zip(spans, collector_lines(spans, 1), strict=True)):
        key = exporter_key(sp["start"], i, gz)
        c.put_object(Bucket=bucket, Key=key, Body=gzip.compress(line) if gz else line)
        keys.append(key)
    return keys


def source(bucket: str, endpoint: str, **extra) -> SpanSource:
    return SpanSource("spans", "otlp_files", {"s3": {"bucket": bucket, "prefix": "traces",
                                                     "endpoint_url": endpoint, **extra},
                                              "workers": 1}, {})


def s3_pull(bucket, endpoint, window=(W0, W1), **extra):
    return otlp_file.pull(source(bucket, endpoint, **extra), AttributeMap.default(), *window)


def test_rows_from_disk_gzip_and_s3_are_the_same(s3, tmp_path):
    c, bucket, endpoint = s3
    put_spans(c, bucket, SPANS[:5], gz=True)
    put_spans(c, bucket, SPANS[5:], gz=False)
    lines = collector_lines(SPANS, 1)
    write_lines(tmp_path / "plain.jsonl", lines)
    write_lines(tmp_path / "zipped.jsonl.gz", lines)
    disk = otlp_file.pull(SpanSource("spans", "otlp_files", {"paths": [str(tmp_path / "plain.jsonl")]}, {}),
                          AttributeMap.default(), W0, W1)
    zipped = otlp_file.pull(SpanSource("spans", "otlp_files", {"paths": [str(tmp_path / "zipped.jsonl.gz")]},
                                       {}), AttributeMap.default(), W0, W1)
    got = s3_pull(bucket, endpoint)
    assert got.frame.height == 6 and int(got.frame["requests"].sum()) == 9  # 3 days x 2 teams
    assert got.frame.to_dicts() == disk.frame.to_dicts() == zipped.frame.to_dicts()
    assert got.frame["input_tokens"].sum() == sum(s["attributes"]["gen_ai.usage.input_tokens"]
                                                  for s in SPANS)


def test_only_the_windows_partitions_are_listed(s3):
    c, bucket, endpoint = s3
    put_spans(c, bucket, SPANS[:3])
    # a corrupt object in August and one of another signal: neither is read
    c.put_object(Bucket=bucket, Key="traces/year=2026/month=08/day=01/hour=00/minute=00/traces_x.json",
                 Body=b"{not json")
    c.put_object(Bucket=bucket, Key="traces/year=2026/month=10/day=01/hour=00/minute=10/metrics_y.json",
                 Body=b"{}")
    got = s3_pull(bucket, endpoint)
    assert got.stats["files"] == 3 and got.stats["objects_skipped"] == 1
    assert any("1 object(s) under the prefix are not otlp_json trace objects" in n for n in got.notes)
    assert object_store.day_prefixes(object_store.S3Options(bucket, "traces"), W0, date(2026, 10, 3)) == [
        f"traces/year=2026/month={m}/day={d}/" for m, d in
        (("09", "30"), ("10", "01"), ("10", "02"), ("10", "03"))]


def test_an_object_uploaded_twice_is_counted_once(s3):
    c, bucket, endpoint = s3
    keys = put_spans(c, bucket, SPANS[:3])
    body = c.get_object(Bucket=bucket, Key=keys[1])["Body"].read()
    c.put_object(Bucket=bucket, Key=keys[1].replace("traces_", "traces_retry"), Body=body)
    got = s3_pull(bucket, endpoint)
    assert got.stats["files"] == 4 and got.stats["duplicates"] == 1
    assert int(got.frame["requests"].sum()) == 3


def test_listings_are_paged(s3, monkeypatch):
    c, bucket, endpoint = s3
    put_spans(c, bucket, SPANS)
    monkeypatch.setattr(object_store, "LIST_PAGE_SIZE", 2)
    got = s3_pull(bucket, endpoint)
    assert got.stats["files"] == 9 and int(got.frame["requests"].sum()) == 9


def test_a_missing_bucket_names_the_bucket_and_prefix(s3):
    _, _, endpoint = s3
    with pytest.raises(DataError, match=r"spans: s3://no-such-bucket/traces/year=2026/month=09/day=30/: "
                                        r"cannot list: no such bucket"):
        s3_pull("no-such-bucket", endpoint)


def test_a_truncated_object_in_the_window_fails_naming_it(s3):
    c, bucket, endpoint = s3
    put_spans(c, bucket, SPANS[:2])
    body = gzip.compress(collector_lines(SPANS[2:3], 1)[0])
    key = exporter_key(SPANS[2]["start"], 99, True)
    c.put_object(Bucket=bucket, Key=key, Body=body[: len(body) // 2])
    with pytest.raises(DataError, match=rf"s3://{bucket}/{key}"):
        s3_pull(bucket, endpoint)


def test_an_access_denied_prefix_names_the_object(s3, monkeypatch):
    c, bucket, endpoint = s3
    put_spans(c, bucket, SPANS[:3])
    c.put_object(Bucket=bucket, Key=exporter_key("2026-09-30T23:59:00Z", 7, False),
                 Body=collector_lines([llm_span("2026-10-01T00:00:05Z")], 1)[0])
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName="finops")
    iam.put_user_policy(UserName="finops", PolicyName="october", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/traces/year=2026/month=10/*"}]}))
    key = iam.create_access_key(UserName="finops")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    from moto import settings
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    object_store._CLIENTS.clear()
    with pytest.raises(DataError, match=r"s3://[^ ]+/month=09/day=30/[^ ]+: cannot read: access denied"):
        s3_pull(bucket, endpoint)


def test_credentials_are_refused_in_the_config(s3):
    _, bucket, endpoint = s3
    src = source(bucket, endpoint, secret_access_key="x")
    with pytest.raises(ConfigError, match="credentials come from the environment"):
        otlp_file.validate(src)


def test_the_manifest_reads_each_object_once(s3, tmp_path, prices_dir):
    c, bucket, endpoint = s3
    keys = put_spans(c, bucket, SPANS[:4])
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f"""
[warehouse]
path = "w.duckdb"
[pricing]
dir = "{prices_dir}"
[reconcile]
today = 2026-11-23
[[sources]]
name = "spans"
kind = "otlp_files"
s3 = {{ bucket = "{bucket}", prefix = "traces", endpoint_url = "{endpoint}" }}
""")
    first = pull(load_config(cfg), month_window("2026-10")).sources[0]
    assert first.error is None and first.stats["files"] == 4
    again = pull(load_config(cfg), month_window("2026-10")).sources[0]
    assert again.error is None and again.stats["files"] == 0
    # object 0 overwritten with two other spans of its day
    c.put_object(Bucket=bucket, Key=keys[0], Body=gzip.compress(collector_lines(
        [llm_span("2026-10-01T00:20:00Z"), llm_span("2026-10-01T00:30:00Z")], 2)[0]))
    third = pull(load_config(cfg), month_window("2026-10")).sources[0]
    assert third.error is None and third.stats["files"] == 3  # it, and the others of its day
    import duckdb
    con = duckdb.connect(str(Path(tmp_path) / "w.duckdb"), read_only=True)
    requests = con.execute("SELECT sum(requests) FROM usage_daily").fetchone()[0]
    con.close()
    assert requests == 5  # object 0's old span gone, its two new ones counted


def test_sources_check_lists_todays_partitions(s3):
    c, bucket, endpoint = s3
    today = date.today()
    c.put_object(Bucket=bucket, Key=exporter_key(f"{today}T08:00:00Z", 1, True), Body=gzip.compress(
        collector_lines([llm_span(f"{today}T08:00:00Z")], 1)[0]))
    rows = otlp_file.check(source(bucket, endpoint))
    assert rows[0][0] == f"s3://{bucket}/traces"
    assert rows[0][1].startswith("1 trace object(s) in the partitions of ")
