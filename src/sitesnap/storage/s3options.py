"""The S3 backend's options: the one definition of what ``[repositories.s3]`` and ``s3://`` accept.

:data:`PRESETS` is the one list of service presets, :data:`OPTIONS` the one
list of option names (``docs/storage.md`` documents exactly these; a test
compares them), and :func:`parse_options` the one validator, used when a
storage is opened and, with ``resolve_secrets=False``, by the config loader
for each S3 repository.  Light on purpose: no S3 client is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef
from sitesnap.storage.options import RETRY_OPTIONS, as_bool, reject_unknown, secret_value

__all__ = ["OPTIONS", "PRESETS", "S3Options", "parse_options"]

MiB = 1024 * 1024

PRESETS: Mapping[str, Mapping[str, Any]] = {
    # Both require virtual-hosted addressing and reject aws-chunked uploads and
    # the SDKs' default CRC32 trailer checksums; bulk delete needs Content-MD5.
    "aws": {},
    "aliyun-oss": {
        "addressing": "virtual",
        "endpoint": "https://oss-{region}.aliyuncs.com",
        "conditional_put": "header:x-oss-forbid-overwrite",
    },
    "tencent-cos": {
        "addressing": "virtual",
        "endpoint": "https://cos.{region}.myqcloud.com",
        "conditional_put": "header:x-cos-forbid-overwrite",
    },
}

OPTIONS = frozenset(
    {
        "preset", "endpoint", "region", "addressing", "access_key_id", "secret_access_key",
        "session_token", "part_size", "multipart_threshold", "max_connections",
        "upload_concurrency", "conditional_put", "object_lock_mode", "object_lock_days",
        "object_lock_exempt", "create_bucket", "allow_http", "timeout", "connect_timeout",
    }
) | RETRY_OPTIONS  # fmt: skip

@dataclass
class S3Options:
    """Validated options; see ``docs/storage.md`` for each one."""

    bucket: str
    prefix: str = ""
    preset: str = "aws"
    endpoint: str | None = None
    region: str | None = None
    addressing: str = "auto"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    part_size: int = 16 * MiB
    multipart_threshold: int = 32 * MiB
    max_connections: int = 16
    upload_concurrency: int = 4
    conditional_put: str = "etag"
    object_lock_mode: str | None = None
    object_lock_days: int = 0
    object_lock_exempt: tuple[str, ...] = ("locks/",)
    create_bucket: bool = False
    allow_http: bool = False
    timeout: str = "120s"
    connect_timeout: str = "10s"
    extra: dict[str, str] = field(default_factory=dict)


def parse_options(url: str, options: Mapping[str, Any], *, resolve_secrets: bool = True) -> S3Options:
    """Merge URL, preset and options into :class:`S3Options`; raise ConfigError on nonsense.

    With ``resolve_secrets=False`` (validating a configuration), secret
    references are checked for shape but not read: their variables and files
    are the business of the host that opens the storage.
    """
    reject_unknown(options, OPTIONS, "s3")
    parts = urlsplit(url)
    if not parts.netloc:
        raise ConfigError(f"S3 URL without a bucket: {url}", hint="Use s3://bucket/prefix.")
    preset = str(options.get("preset", "aws"))
    if preset not in PRESETS:
        raise ConfigError(f"unknown S3 preset {preset!r}", hint=f"Known: {', '.join(PRESETS)}.")
    merged = {**PRESETS[preset], **options}
    opts = S3Options(bucket=parts.netloc, prefix=parts.path.strip("/"), preset=preset)
    opts.region = merged.get("region")
    endpoint = merged.get("endpoint")
    if endpoint and "{region}" in endpoint:
        if not opts.region:
            raise ConfigError(f"the {preset} preset needs a region (e.g. cn-hangzhou)")
        endpoint = endpoint.format(region=opts.region)
    opts.endpoint = endpoint
    opts.addressing = str(merged.get("addressing", "auto"))
    if opts.addressing not in ("auto", "virtual", "path"):
        raise ConfigError("addressing must be 'virtual' or 'path'")
    for key in ("access_key_id", "secret_access_key", "session_token"):
        value = merged.get(key)
        if resolve_secrets or isinstance(value, str):
            setattr(opts, key, secret_value(value, f"s3 {key}"))
        elif value is not None and not isinstance(value, SecretRef) and not (
                isinstance(value, Mapping) and set(value) <= {"env", "file"}):
            secret_value(value, f"s3 {key}")  # raises: neither text nor a secret reference
    try:
        opts.part_size = int(merged.get("part_size", opts.part_size))
        opts.multipart_threshold = int(merged.get("multipart_threshold", opts.multipart_threshold))
        opts.max_connections = int(merged.get("max_connections", opts.max_connections))
        opts.upload_concurrency = int(merged.get("upload_concurrency", opts.upload_concurrency))
        opts.object_lock_days = int(merged.get("object_lock_days", 0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad S3 option: {exc}") from None
    if opts.part_size < 5 * MiB or opts.max_connections < 1 or opts.upload_concurrency < 1:
        raise ConfigError("part_size must be at least 5 MiB; concurrency at least 1")
    opts.conditional_put = str(merged.get("conditional_put", "etag"))
    if opts.conditional_put not in ("etag", "none") and not opts.conditional_put.startswith("header:"):
        raise ConfigError("conditional_put must be 'etag', 'none' or 'header:<name>'")
    mode = merged.get("object_lock_mode")
    if mode:
        opts.object_lock_mode = str(mode).upper()
        if opts.object_lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ConfigError("object_lock_mode must be 'governance' or 'compliance'")
        if opts.object_lock_days < 1:
            raise ConfigError("object_lock_days must be at least 1 with object_lock_mode")
    opts.object_lock_exempt = tuple(merged.get("object_lock_exempt", opts.object_lock_exempt))
    opts.create_bucket = as_bool(merged.get("create_bucket", False))
    # obstore also reads AWS_ENDPOINT_URL; a plain-HTTP endpoint from there must be allowed too.
    effective = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    opts.allow_http = as_bool(merged.get("allow_http", effective.startswith("http:")))
    opts.timeout, opts.connect_timeout = (str(merged.get(k, getattr(opts, k))) for k in ("timeout", "connect_timeout"))
    return opts


