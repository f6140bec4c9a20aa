"""The S3-compatible store (RustFS in production): list, read and archive INC snapshots.

Path-style addressing and an explicit endpoint, as RustFS needs. Only the INC prefix is ever
listed; automations/crq/ is never touched. Every store failure becomes one StoreError line.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fleettickets.config import Settings
from fleettickets.errors import StoreError
from fleettickets.snapshot import PREFIX, Snapshot, archive_key, snapshot_from_key


class Bucket:
    def __init__(self, settings: Settings) -> None:
        settings.require_store()
        self.name = settings.s3_bucket
        self.endpoint = settings.s3_endpoint
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
            region_name=settings.s3_region,
            config=Config(
                s3={"addressing_style": "path"},
                # Every call is bounded: 10 s to connect, 60 s of silence on a read, 3 attempts.
                connect_timeout=10,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                tcp_keepalive=True,
            ),
        )

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except ClientError as e:
            error = e.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", "")
            hint = {
                "NoSuchBucket": f"bucket {self.name!r} does not exist (RUSTFS_BUCKET)",
                "InvalidAccessKeyId": "the access key is not known (RUSTFS_ACCESS_KEY)",
                "SignatureDoesNotMatch": "the secret key is wrong (RUSTFS_SECRET_KEY)",
                "AccessDenied": "access denied: check the credentials' permissions",
            }.get(code, f"{code} {message}".strip())
            raise StoreError(f"cannot {action} at {self.endpoint}: {hint}") from None
        except BotoCoreError as e:
            raise StoreError(f"cannot {action} at {self.endpoint}: {e}") from None

    def list_snapshots(self, prefix: str = PREFIX) -> list[Snapshot]:
        """Every stamped snapshot directly under `prefix` (paginated: any number of keys)."""
        found: list[Snapshot] = []
        with self._errors(f"list s3://{self.name}/{prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    snapshot = snapshot_from_key(item["Key"], item.get("ETag"), item.get("Size"), prefix)
                    if snapshot:
                        found.append(snapshot)
        return found

    def open(self, snapshot: Snapshot) -> BinaryIO:
        """A stream of the object's bytes, refused if it changed since it was listed: the ETag
        recorded for the run must be the ETag of the bytes loaded. (Compared here rather than sent
        as If-Match, which not every S3-compatible store honours.)"""
        with self._errors(f"read s3://{self.name}/{snapshot.key}"):
            response = self.client.get_object(Bucket=self.name, Key=snapshot.key)
        etag = response.get("ETag", "").strip('"')
        if snapshot.etag and etag != snapshot.etag:
            response["Body"].close()
            raise StoreError(f"{snapshot.key} changed after it was listed (ETag now {etag}): the next run will load it")
        return _Body(response["Body"], f"s3://{self.name}/{snapshot.key}", self.endpoint)

    def archive(self, snapshot: Snapshot) -> str | None:
        """Copy to processed/<name>, then delete the original, both only while the object is still
        the one listed (its ETag); returns the new key, or None when it changed and was left where
        it is for the next run to read.

        Two conditions, because S3-compatible servers honour them unevenly: CopySourceIfMatch is
        honoured by AWS S3 and MinIO, and ignored by moto 5 (the tests' server); DeleteObject's
        If-Match by AWS S3 (since 2024) and moto 5. RustFS was not checked here. With either one
        honoured, a rewritten object is never deleted unread: at worst (copy condition ignored)
        processed/ holds the rewritten bytes while the original stays in place for the next run."""
        target = archive_key(snapshot.key)
        source = {"Bucket": self.name, "Key": snapshot.key}
        condition = {"CopySourceIfMatch": f'"{snapshot.etag}"'} if snapshot.etag else {}
        with self._errors(f"archive s3://{self.name}/{snapshot.key}"):
            try:
                self.client.copy_object(Bucket=self.name, Key=target, CopySource=source, **condition)
                if snapshot.etag:
                    self.client.delete_object(Bucket=self.name, Key=snapshot.key, IfMatch=f'"{snapshot.etag}"')
                else:
                    self.client.delete_object(Bucket=self.name, Key=snapshot.key)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "PreconditionFailed":
                    raise
                return None
        return target


class _Body(io.RawIOBase):
    """An object's bytes; a connection cut or stalled mid-read is one StoreError that says what
    happened and what to do (botocore's IncompleteReadError / ResponseStreamingError /
    ReadTimeoutError say neither)."""

    def __init__(self, body: BinaryIO, url: str, endpoint: str | None) -> None:
        self.body, self.url, self.endpoint, self.done = body, url, endpoint, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.body.read(size if size >= 0 else None)
        except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreError(
                f"reading {self.url} at {self.endpoint} stopped after {self.done:,} bytes "
                f"({'no data for 60 s' if 'timeout' in type(e).__name__.lower() else 'the connection was cut'}: "
                f"{type(e).__name__}): nothing was written; the next run will read it again"
            ) from None
        self.done += len(data)
        return data

    def close(self) -> None:
        self.body.close()
        super().close()
