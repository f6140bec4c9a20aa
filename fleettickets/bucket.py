"""The S3-compatible store (RustFS in production): list, read and archive a dataset's files.

Path-style addressing and an explicit endpoint, as RustFS needs. A run lists only its own
dataset's prefixes (fleettickets.datasets). Every store failure becomes one StoreError line.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Literal

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fleettickets.config import Settings
from fleettickets.datasets import Dataset
from fleettickets.errors import StoreError
from fleettickets.snapshot import FeedFile, Kind, feed_file

Archived = Literal["archived", "changed", "gone"]


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

    def list_files(self, dataset: Dataset, kind: Kind, *, processed: bool = False) -> list[FeedFile]:
        """Every stamped file of `kind` directly under the dataset's prefix for it (its processed/
        folder for that kind with `processed`), paginated: any number of keys."""
        prefix = dataset.processed_prefix(kind) if processed else dataset.prefix_of(kind)
        found: list[FeedFile] = []
        with self._errors(f"list s3://{self.name}/{prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    file = feed_file(item["Key"], item.get("ETag"), item.get("Size"), prefix=prefix, kind=kind)
                    if file:
                        found.append(file)
        return found

    def open(self, file: FeedFile) -> BinaryIO:
        """A stream of the object's bytes, refused if it changed since it was listed: the ETag
        recorded for the run must be the ETag of the bytes loaded. (Compared here rather than sent
        as If-Match, which not every S3-compatible store honours.)"""
        with self._errors(f"read s3://{self.name}/{file.key}"):
            response = self.client.get_object(Bucket=self.name, Key=file.key)
        etag = response.get("ETag", "").strip('"')
        if file.etag and etag != file.etag:
            response["Body"].close()
            raise StoreError(f"{file.key} changed after it was listed (ETag now {etag}): the next run will load it")
        return _Body(response["Body"], f"s3://{self.name}/{file.key}", self.endpoint)

    def archive(self, file: FeedFile, target: str) -> Archived:
        """Copy to `target`, then delete the original, both only while the object is still the one
        listed (its ETag): "archived"; "changed" when it was rewritten since it was read (left where
        it is for the next run to read); "gone" when it vanished and `target` does not hold it.

        Two conditions, because S3-compatible servers honour them unevenly: CopySourceIfMatch is
        honoured by AWS S3, MinIO and RustFS, and ignored by moto 5 (the tests' server);
        DeleteObject's If-Match by AWS S3 (since 2024), RustFS and moto 5. With either one honoured,
        a rewritten object is never deleted unread: at worst (copy condition ignored) processed/
        holds the rewritten bytes while the original stays in place for the next run.

        A request retried after its first attempt succeeded (the answer lost on the way) meets its
        own result: the conditional delete finds no key, which RustFS answers 412, or the copy finds
        no source. A HEAD decides: after a copy that succeeded, the original gone is "archived"; a
        copy that found no source is "archived" if `target` holds what was read (its ETag, or its
        size: a copy of a multipart upload gets an ETag of its own)."""
        source = {"Bucket": self.name, "Key": file.key}
        condition = {"CopySourceIfMatch": f'"{file.etag}"'} if file.etag else {}
        with self._errors(f"archive s3://{self.name}/{file.key}"):
            try:
                self.client.copy_object(Bucket=self.name, Key=target, CopySource=source, **condition)
            except ClientError as e:
                if _code(e) in ("NoSuchKey", "404"):
                    return "archived" if self._holds(target, file) else "gone"
                if _code(e) != "PreconditionFailed":
                    raise
                return "changed"
            try:
                if file.etag:
                    self.client.delete_object(Bucket=self.name, Key=file.key, IfMatch=f'"{file.etag}"')
                else:
                    self.client.delete_object(Bucket=self.name, Key=file.key)
            except ClientError as e:
                if _code(e) != "PreconditionFailed":
                    raise
                return "changed" if self._head(file.key) else "archived"
        return "archived"

    def _holds(self, key: str, file: FeedFile) -> bool:
        """`key` holds the bytes `file` had when it was listed (by ETag, else by size)."""
        head = self._head(key)
        return head is not None and (head["ETag"].strip('"') == file.etag or head["ContentLength"] == file.size)

    def _head(self, key: str) -> dict | None:
        """The object's HEAD answer, None if there is no such key."""
        try:
            return self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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
