"""Presigned S3 GET URLs (boto3, SigV4) for s3:// asset hrefs."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import anyio

from geopera_stac_ext.core.errors import NotFound, ServiceUnavailable
from geopera_stac_ext.storage.hrefs import split_object_url


@lru_cache(maxsize=8)
def _client(endpoint_url: str | None, region: str) -> Any:
    import boto3
    from botocore.config import Config

    # NOTE: path-style addressing works with any S3-protocol server (MinIO, moto, Ceph) and
    # with AWS; presigning is local computation, so no request leaves the machine here.
    # NOTE: an own Session, not boto3's process-global default one that caches credentials.
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}))


def split(href: str) -> tuple[str, str]:
    return split_object_url(href, "s3", "key")


def presign(settings: Any, href: str, ttl: int) -> str:
    """A GET URL for the object, valid `ttl` seconds."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    bucket, key = split(href)
    try:
        return _client(settings.s3_endpoint_url, settings.s3_region).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl)
    except NoCredentialsError:
        raise ServiceUnavailable("S3 credentials are not configured on the server "
                                 "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile)"
                                 ) from None
    except BotoCoreError as e:
        raise ServiceUnavailable(f"cannot sign the S3 URL: {type(e).__name__}") from None


def _head(settings: Any, href: str) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = split(href)
    try:
        head = _client(settings.s3_endpoint_url, settings.s3_region).head_object(
            Bucket=bucket, Key=key)
    except NoCredentialsError:
        raise ServiceUnavailable("S3 credentials are not configured on the server "
                                 "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile)"
                                 ) from None
    except ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            raise NotFound(f"the object {href} does not exist in its bucket") from None
        raise ServiceUnavailable(f"the S3 store refused to describe the object (HTTP {status})"
                                 ) from None
    except BotoCoreError as e:
        raise ServiceUnavailable(f"cannot reach the S3 store: {type(e).__name__}") from None
    return int(head["ContentLength"])


async def object_size(settings: Any, href: str) -> int:
    """The object's real size (HEAD); the egress ledger never trusts the declared one."""
    # NOTE: boto3 is blocking: run it in a worker thread, not on the event loop.
    return await anyio.to_thread.run_sync(_head, settings, href)
