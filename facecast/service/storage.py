"""Where media lives. Keys are chosen by the service (`templates/tpl_x.mp4`), never taken from user input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from facecast.engine.files import atomic_output

from .settings import Settings

AREAS = ("templates", "inputs", "outputs", "logs")


class Storage(Protocol):
    """A flat key -> file store. Writes are atomic: a key either holds the whole file or nothing."""

    def put(self, key: str, source: Path) -> int:
        """Move `source` to `key` (source is consumed); returns the size in bytes."""

    def local_path(self, key: str) -> Path:
        """A readable local file holding `key` (downloaded into a cache when remote)."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def presigned_url(self, key: str) -> str | None:
        """A URL clients fetch `key` from directly, valid for a while; None when files go through the API."""

    def check(self) -> None:
        """Raise if the store cannot be written (for /readyz)."""


class LocalStorage:
    """Files under the data directory, laid out as templates/, inputs/, outputs/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for area in AREAS:
            (root / area).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:  # keys are ours, but refuse anything that escapes the root anyway
            raise ValueError(f"storage key outside the data directory: {key!r}")
        return path

    def put(self, key: str, source: Path) -> int:
        target = self._path(key)
        with atomic_output(target) as tmp:
            shutil.move(str(source), tmp)  # same filesystem: a rename; otherwise a copy into a hidden temp name
        return target.stat().st_size

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def presigned_url(self, key: str) -> str | None:
        return None

    def check(self) -> None:
        probe = self.root / "outputs" / f".probe.{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()


class S3Storage:
    """Objects in an S3-compatible bucket; reads are cached under data_dir/cache/objects."""

    def __init__(self, settings: Settings) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("storage = 's3' requires boto3: pip install 'facecast[s3]'") from exc
        s3 = settings.s3
        self.bucket = s3.bucket
        self.client = boto3.client(
            "s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
            aws_access_key_id=s3.access_key_id.get_secret_value() if s3.access_key_id else None,
            aws_secret_access_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
            config=Config(signature_version="s3v4"))  # presigned URLs too: regions opened since 2014 refuse v2
        self.url_expiry_s = s3.url_expiry_s
        self.cache = settings.data_dir / "cache" / "objects"
        self.cache.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, source: Path) -> int:
        size = source.stat().st_size
        self.client.upload_file(str(source), self.bucket, key)  # S3 makes an object visible only when complete
        source.unlink(missing_ok=True)
        return size

    def local_path(self, key: str) -> Path:
        target = self.cache / key
        if not target.is_file():
            with atomic_output(target) as tmp:
                self.client.download_file(self.bucket, key, str(tmp))
        return target

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
        (self.cache / key).unlink(missing_ok=True)

    def presigned_url(self, key: str) -> str | None:
        """A presigned GET URL (signed locally, no request to the bucket), so clients download from S3 itself."""
        if not self.url_expiry_s:
            return None
        return str(self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                      ExpiresIn=self.url_expiry_s))

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def make_storage(settings: Settings) -> Storage:
    """The storage the settings ask for."""
    if settings.storage == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.data_dir)
