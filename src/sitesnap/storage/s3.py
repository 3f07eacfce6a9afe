"""S3-compatible object storage (AWS S3, Aliyun OSS, Tencent COS, MinIO...).

Data moves through obstore (Rust, releases the GIL, multipart uploads for
big objects); boto3 is used only for control calls: bucket creation and
Object Lock configuration and retention.  URL: ``s3://bucket/prefix``.

Exclusive create uses a conditional put (``If-None-Match: *``), which AWS
S3 and most compatible servers honour.  The ``aliyun-oss`` and
``tencent-cos`` presets use their own forbid-overwrite header instead, and
``conditional_put="none"`` falls back to check-then-put, which is *not*
race-free: two clients creating the same lock at the same instant may both
succeed.  Use it only where one client writes at a time.

Errors: 404 → ObjectNotFound, 403/401 → PermissionDenied (with the service's error code
and message, e.g. ``SignatureDoesNotMatch``, and a hint about credentials), 5xx, 408, 429,
timeouts and dropped connections → ``StorageError(transient=True)``; other
4xx → ``StorageError``.  obstore's own retries are off: the retry wrapper
decides what to retry, in one place.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from sitesnap.errors import ConfigError, ObjectExists, ObjectNotFound, PermissionDenied, StorageError
from sitesnap.storage.base import Buffer, ObjectInfo, StorageProperties, check_name
from sitesnap.storage.s3options import OPTIONS, PRESETS, S3Options, parse_options

__all__ = ["OPTIONS", "PRESETS", "S3Options", "S3Storage", "from_url", "parse_options"]

_STATUS = re.compile(r"status code: (\d{3})")


_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{1,400})</Message>")
DENIED_HINT = ("Check the access key, the secret key (a wrong one gives SignatureDoesNotMatch), the region, "
               "the system clock and that these credentials may use this bucket and prefix.")


def service_error(text: str) -> str | None:
    """``SignatureDoesNotMatch: The request signature we calculated...`` from an S3 error body in ``text``."""
    code = _XML_CODE.search(text)
    if code is None:
        return None
    message = _XML_MESSAGE.search(text)
    return f"{code.group(1)}: {message.group(1)}" if message else code.group(1)


def _denied(name: str, text: str, summary: str) -> PermissionDenied:
    """A 401/403 with the service's own error code and message, and what to check."""
    reason = service_error(text)
    if reason is None:
        return PermissionDenied(f"{name}: {summary}", hint=DENIED_HINT)
    status = _STATUS.search(text)
    return PermissionDenied(f"{name}: {status.group(1) + ' ' if status else ''}{reason}", hint=DENIED_HINT)


def translate(exc: Exception, name: str) -> StorageError:
    """Map an obstore exception to the storage error tree (see the module docstring)."""
    if isinstance(exc, NotFoundError | FileNotFoundError):
        return ObjectNotFound(name)
    if isinstance(exc, AlreadyExistsError | PreconditionError):
        return ObjectExists(name)
    text = str(exc)
    summary = text.split("\n", 1)[0][:300]
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError):
        return _denied(name, text, summary)
    match = _STATUS.search(text)
    if match is None:  # connection refused/reset, timeout, truncated body
        return StorageError(f"{name}: {summary}", transient=True)
    status = int(match.group(1))
    if status == 404:
        if "NoSuchBucket" in text:
            return StorageError(f"bucket does not exist: {summary}", hint="Check the bucket name.")
        return ObjectNotFound(name)
    if status in (401, 403):
        return _denied(name, text, summary)
    if status in (409, 412) and ("FileAlreadyExists" in text or "PreconditionFailed" in text):
        return ObjectExists(name)
    reason = service_error(text)
    detail = f"{match.group(1)} {reason}" if reason else summary
    return StorageError(f"{name}: {detail}", transient=status >= 500 or status in (408, 429))


class S3Storage:
    """Objects under ``s3://bucket/prefix``.  Thread-safe; at most ``max_connections`` calls at once."""

    def __init__(self, opts: S3Options) -> None:
        self.opts = opts
        self._slots = threading.BoundedSemaphore(opts.max_connections)
        try:
            self._store = self._make_store({})
            self._create_store = self._store
            if opts.conditional_put.startswith("header:"):
                header = opts.conditional_put.partition(":")[2]
                self._create_store = self._make_store({header: "true"})
        except Exception as exc:  # obstore's builder errors: missing or malformed settings
            first = str(exc).split("\n", 1)[0][:300]
            raise ConfigError(f"cannot set up the S3 client for s3://{opts.bucket}: {first}",
                              hint="Check the endpoint, region and credentials (options or AWS_* variables).") from None
        self._boto: Any = None
        self._boto_lock = threading.Lock()
        location = f"s3://{opts.bucket}/{opts.prefix}".rstrip("/")
        extra = {"preset": opts.preset, "endpoint": opts.endpoint or ""}
        self.properties = StorageProperties(
            kind="s3", url=location, object_lock=bool(opts.object_lock_mode), extra=extra
        )

    def _make_store(self, headers: dict[str, str]) -> S3Store:
        o = self.opts
        config: dict[str, Any] = {}
        for key in ("endpoint", "region", "access_key_id", "secret_access_key", "session_token"):
            if getattr(o, key):
                config[key] = getattr(o, key)
        if o.addressing != "auto":
            config["virtual_hosted_style_request"] = o.addressing == "virtual"
        # ``timeout`` bounds each request from connect to the last byte, ``connect_timeout`` the TCP/TLS
        # handshake: a frozen endpoint that still accepts connections cannot hold a call longer.
        client: dict[str, Any] = {"allow_http": o.allow_http, "timeout": o.timeout,
                                  "connect_timeout": o.connect_timeout}
        if headers:
            client["default_headers"] = headers
        retry = {"max_retries": 0, "retry_timeout": dt.timedelta(seconds=1)}
        return S3Store(
            o.bucket,
            prefix=o.prefix or None,
            client_options=client,  # type: ignore[arg-type]
            retry_config=retry,  # type: ignore[arg-type]
            **config,
        )

    def _control(self) -> Any:
        """The boto3 client for control calls, made on first use (boto3 loads slowly)."""
        with self._boto_lock:
            if self._boto is None:
                import boto3
                from botocore.config import Config

                o = self.opts
                style: Any = {"virtual": "virtual", "path": "path"}.get(o.addressing, "auto")
                config = Config(
                    s3={"addressing_style": style},
                    # OSS and COS reject the CRC32 trailers newer SDKs add by default.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    retries={"max_attempts": 3, "mode": "standard"},
                )
                self._boto = boto3.client(
                    "s3",
                    endpoint_url=o.endpoint,
                    region_name=o.region,
                    aws_access_key_id=o.access_key_id,
                    aws_secret_access_key=o.secret_access_key,
                    aws_session_token=o.session_token,
                    config=config,
                )
            return self._boto

    def _key(self, name: str) -> str:
        return f"{self.opts.prefix}/{name}" if self.opts.prefix else name

    # -- the interface ---------------------------------------------------

    def create(self) -> None:
        """Check the bucket (create it with ``create_bucket``) and its Object Lock setting."""
        if self.opts.create_bucket:
            self._create_bucket()
        with self._slots:
            try:
                next(iter(obstore.list(self._store, chunk_size=1)), None)
            except Exception as exc:
                raise translate(exc, self.properties.url) from exc
        if self.opts.object_lock_mode:
            self._check_object_lock()

    def _create_bucket(self) -> None:
        client = self._control()
        kwargs: dict[str, Any] = {"Bucket": self.opts.bucket}
        if self.opts.object_lock_mode:
            kwargs["ObjectLockEnabledForBucket"] = True
        if self.opts.region and self.opts.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.opts.region}
        try:
            client.create_bucket(**kwargs)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except Exception as exc:
            raise StorageError(f"cannot create bucket {self.opts.bucket}: {exc}") from exc

    def _check_object_lock(self) -> None:
        try:
            conf = self._control().get_object_lock_configuration(Bucket=self.opts.bucket)
            enabled = conf["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
        except Exception as exc:
            if "ObjectLockConfigurationNotFound" not in str(exc):
                raise StorageError(f"cannot read the bucket's Object Lock setting: {exc}") from exc
            enabled = False
        if not enabled:
            raise ConfigError(
                f"bucket {self.opts.bucket} does not have Object Lock enabled",
                hint="Object Lock can only be turned on when a bucket is created.",
            )

    def stat(self, name: str) -> ObjectInfo:
        check_name(name)
        with self._slots:
            try:
                meta = obstore.head(self._store, name)
            except Exception as exc:
                raise translate(exc, name) from exc
        return ObjectInfo(name, int(meta["size"]))

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        check_name(name)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"invalid range offset={offset} length={length}")
        if length == 0:
            self.stat(name)
            return b""
        with self._slots:
            try:
                if offset == 0 and length is None:
                    return bytes(obstore.get(self._store, name).bytes())
                if length is None:
                    result = obstore.get(self._store, name, options={"range": {"offset": offset}})
                    return bytes(result.bytes())
                return bytes(obstore.get_range(self._store, name, start=offset, length=length))
            except Exception as exc:
                if "status code: 416" not in str(exc):
                    raise translate(exc, name) from exc
        self.stat(name)  # the range starts at or past the end: exists → b""
        return b""

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        check_name(name)
        with self._slots:
            try:
                if exclusive:
                    self._put_exclusive(name, data)
                else:
                    self._put(self._store, name, data)
            except StorageError:
                raise
            except Exception as exc:
                raise translate(exc, name) from exc
        if self.opts.object_lock_mode and not name.startswith(self.opts.object_lock_exempt):
            self._retain(name)

    def _put(self, store: S3Store, name: str, data: Buffer) -> None:
        obstore.put(
            store,
            name,
            data,
            use_multipart=len(data) > self.opts.multipart_threshold,
            chunk_size=self.opts.part_size,
            max_concurrency=self.opts.upload_concurrency,
        )

    def _put_exclusive(self, name: str, data: Buffer) -> None:
        mode = self.opts.conditional_put
        if mode == "etag":
            obstore.put(self._store, name, data, mode="create", use_multipart=False)
        elif mode == "none":
            try:
                obstore.head(self._store, name)
            except (NotFoundError, FileNotFoundError):
                obstore.put(self._store, name, data, use_multipart=False)
            else:
                raise ObjectExists(name)
        else:
            obstore.put(self._create_store, name, data, use_multipart=False)

    def _retain(self, name: str) -> None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.opts.object_lock_days)
        try:
            self._control().put_object_retention(
                Bucket=self.opts.bucket,
                Key=self._key(name),
                Retention={"Mode": self.opts.object_lock_mode, "RetainUntilDate": until},
            )
        except Exception as exc:
            raise StorageError(f"{name}: cannot set Object Lock retention: {exc}") from exc

    def delete(self, name: str) -> None:
        check_name(name)
        with self._slots:
            try:
                obstore.delete(self._store, name)
            except (NotFoundError, FileNotFoundError):
                return
            except Exception as exc:
                raise translate(exc, name) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # obstore lists whole path segments: list the prefix's directory, then filter.
        directory = prefix.rpartition("/")[0] or None
        with self._slots:
            try:
                batches = list(obstore.list(self._store, directory, chunk_size=1000))
            except Exception as exc:
                raise translate(exc, prefix or self.properties.url) from exc
        items = [ObjectInfo(m["path"], int(m["size"])) for batch in batches for m in batch]
        return iter([i for i in items if i.name.startswith(prefix)])

    def close(self) -> None:
        """obstore and boto3 pool their connections; dropping the clients releases them."""
        with self._boto_lock:
            self._boto = None


def from_url(url: str, options: Mapping[str, Any]) -> S3Storage:
    """``s3://bucket/prefix`` with the options of :class:`S3Options`."""
    return S3Storage(parse_options(url, options))
