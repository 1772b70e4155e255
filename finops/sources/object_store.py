"""Collector output in S3-compatible object storage, as the ``awss3exporter`` writes it.

The exporter (opentelemetry-collector-contrib ``exporter/awss3exporter``) puts each batch in
one object, keyed ``[s3_base_prefix/]s3_prefix/<s3_partition_format of the upload time>/
<file_prefix>traces_<random>.json[.gz]``: with the ``otlp_json`` marshaler an object is one
``ExportTraceServiceRequest`` in OTLP/JSON, gzip-compressed with ``compression: gzip``. The
partition is strftime of the upload time (``year=%Y/month=%m/day=%d/hour=%H/minute=%M`` by
default), so only the day partitions that can hold the window's spans are listed: from the
day before the window (clocks that disagree) to the day after it (a span that starts before
midnight is uploaded after it). Other signals' objects (``metrics_``, ``logs_``) and other
marshalers (``.binpb``) under the same prefix are skipped and counted.

The client is boto3 (botocore): credentials come from the environment or the standard AWS
chain (``AWS_ACCESS_KEY_ID`` ..., ``AWS_PROFILE`` and the shared files, SSO, web identity,
ECS and EC2 instance roles), never from ``finops.toml``; the config names only the bucket,
prefix, partition format, region and (for MinIO, Ceph, R2 or a test server) the endpoint.

Source options (the ``s3`` table of an ``otlp_files`` source)::

    s3 = { bucket = "telemetry", prefix = "traces", region = "eu-central-1",
           partition_format = "year=%Y/month=%m/day=%d/hour=%H/minute=%M",
           file_prefix = "", endpoint_url = "https://minio.internal:9000" }
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from finops.errors import ConfigError, DataError

S3_KEYS = ("bucket", "prefix", "partition_format", "file_prefix", "region", "endpoint_url")
DEFAULT_PARTITION = "year=%Y/month=%m/day=%d/hour=%H/minute=%M"
LIST_PAGE_SIZE = 1000  # ListObjectsV2's own maximum; tests lower it to exercise paging
# strftime directives that are fixed within one UTC day: a partition component made of these
# (and literals) can be rendered per day; the first one that is not ends the listed prefix.
_DAY_DIRECTIVES = set("YmdjyFCeGgVUWaAbBh")


@dataclass(frozen=True)
class S3Options:
    """Where the exporter writes: picklable, for worker processes."""

    bucket: str
    prefix: str = ""
    partition_format: str = DEFAULT_PARTITION
    file_prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class S3Object:
    """One listed object: its ``s3://`` URL, size, LastModified (ns) and ETag."""

    url: str
    st_size: int
    st_mtime_ns: int
    etag: str


def s3_options(value: Any, where: str) -> S3Options:
    """The ``s3`` table of a source, checked (unknown keys, types); no secret is read here."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.s3 must be a table such as {{ bucket = \"telemetry\", "
                          "prefix = \"traces\" }")
    for key in value:
        if key not in S3_KEYS:
            hint = (" (credentials come from the environment or the AWS credential chain, "
                    "never from finops.toml)") if re.search(r"key|secret|token|password", key) else ""
            raise ConfigError(f"{where}.s3: unknown key {key!r} (one of {', '.join(S3_KEYS)}){hint}")
    for key in S3_KEYS:
        if key in value and (not isinstance(value[key], str) or (key == "bucket" and not value[key])):
            raise ConfigError(f"{where}.s3.{key} must be a string")
    if not value.get("bucket"):
        raise ConfigError(f"{where}.s3.bucket is required")
    if value.get("endpoint_url") and not re.match(r"https?://", value["endpoint_url"]):
        raise ConfigError(f"{where}.s3.endpoint_url must be an http(s) URL")
    return S3Options(value["bucket"], value.get("prefix", "").strip("/"),
                     value.get("partition_format", DEFAULT_PARTITION), value.get("file_prefix", ""),
                     value.get("region"), value.get("endpoint_url"))


def day_prefixes(opts: S3Options, window_start: date, window_end: date) -> list[str]:
    """The key prefixes to list: one per day partition that can hold the window's spans."""
    parts = opts.partition_format.strip("/").split("/")
    fixed: list[str] = []
    for part in parts:
        if any(d not in _DAY_DIRECTIVES for d in re.findall(r"%(.)", part)):
            break
        fixed.append(part)
    base = opts.prefix + "/" if opts.prefix else ""
    if not fixed or all("%" not in p for p in fixed):
        return [base + "/".join(fixed) + ("/" if fixed else "")]
    out: list[str] = []
    day = window_start - timedelta(days=1)
    while day <= window_end:
        p = base + "/".join(fixed) + "/"
        out.append(day.strftime(p))
        day += timedelta(days=1)
    return sorted(set(out))


_CLIENTS: dict[S3Options, Any] = {}
_LOCK = threading.Lock()


def client(opts: S3Options) -> Any:
    """A boto3 S3 client for ``opts`` (one per process)."""
    with _LOCK:
        c = _CLIENTS.get(opts)
        if c is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise ConfigError("reading spans from S3 needs boto3: pip install 'finops[s3]'") from None
            # a session of its own: the credential chain is resolved now, not cached from
            # an earlier client of the process
            c = _CLIENTS[opts] = boto3.session.Session().client(
                "s3", region_name=opts.region, endpoint_url=opts.endpoint_url,
                config=Config(retries={"mode": "standard", "max_attempts": 5}))
        return c


def _why(e: Exception) -> str:
    code = getattr(e, "response", {}).get("Error", {}).get("Code") if hasattr(e, "response") else None
    if code in ("NoSuchBucket",):
        return "no such bucket"
    if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return f"access denied ({code}): check the credentials in the environment or AWS chain"
    if code in ("NoSuchKey", "404"):
        return "no such object (deleted since it was listed?)"
    return f"{type(e).__name__}: {e}"


def list_objects(opts: S3Options, window_start: date, window_end: date, name: str
                 ) -> tuple[list[S3Object], int]:
    """The trace objects of the window's partitions (sorted by key).

    Also how many other objects (other signals or marshalers) were skipped.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    c = client(opts)
    pattern = re.compile(re.escape(opts.file_prefix) + r"traces_[^/]*\.json(\.gz)?$")
    found: list[S3Object] = []
    skipped = 0
    for prefix in day_prefixes(opts, window_start, window_end):
        where = f"{name}: s3://{opts.bucket}/{prefix}"
        try:
            pages = c.get_paginator("list_objects_v2").paginate(
                Bucket=opts.bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
            for page in pages:
                for o in page.get("Contents", []):
                    key = o["Key"]
                    if not pattern.search(key.rsplit("/", 1)[-1]):
                        skipped += 1
                        continue
                    ts = o["LastModified"]
                    found.append(S3Object(f"s3://{opts.bucket}/{key}", int(o["Size"]),
                                          int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000,
                                          str(o.get("ETag", "")).strip('"')))
        except ClientError as e:
            raise DataError(f"{where}: cannot list: {_why(e)}") from None
        except BotoCoreError as e:
            raise DataError(f"{where}: cannot list: {e}") from None
    found.sort(key=lambda o: o.url)
    return found, skipped


def get_bytes(opts: S3Options, url: str) -> bytes:
    """The object's bytes as stored (still gzip-compressed when it is)."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = url.split("/", 3)[3]
    try:
        return client(opts).get_object(Bucket=opts.bucket, Key=key)["Body"].read()
    except ClientError as e:
        raise DataError(f"{url}: cannot read: {_why(e)}") from None
    except BotoCoreError as e:
        raise DataError(f"{url}: cannot read: {e}") from None
