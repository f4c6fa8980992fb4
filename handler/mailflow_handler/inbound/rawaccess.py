"""Per-app read access to the raw mail (contract C1): tags on `raw/<sesId>`, copies past the tenth app.

An app's role may read `raw/*` only where the object carries the tag `mailflow:app:<app>` = `1`, so the
tags are an authorisation (only the handler role may write them, by bucket policy). S3 allows 10 tags
per object: the first ten targets (sorted by app name) get a tag, the others a server-side copy under
`<prefixes.rawCopies><app>/<sesId>`, which their message then points at. `PutObjectTagging` replaces
the whole tag set, so tags an earlier attempt may have written are read first and kept.
"""

from __future__ import annotations

from typing import Any

TAG_PREFIX = "mailflow:app:"
MAX_TAGS = 10  # S3's limit per object


def copy_without_tags(s3: Any, bucket: str, source_key: str, key: str) -> None:
    """A server-side copy with no tags: the raw object's app tags grant nothing on a copy, and copying
    them would need s3:PutObjectTagging on the destination."""
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": source_key},
        TaggingDirective="REPLACE",
    )


def grant(
    s3: Any,
    *,
    bucket: str,
    raw_key: str,
    copies_prefix: str,
    ses_id: str,
    apps: list[str],
    pending: list[str],
    fresh: bool,
) -> dict[str, str]:
    """Give each of `apps` (every target the email is delivered to) read access to the raw mail, and
    return the key each `pending` app's message points at. `fresh`: no earlier attempt can have tagged
    the object (the first delivery), so its (empty) tag set is not read."""
    existing: list[dict[str, str]] = []
    if not fresh:
        existing = s3.get_object_tagging(Bucket=bucket, Key=raw_key)["TagSet"]
    tagged = {tag["Key"].removeprefix(TAG_PREFIX) for tag in existing if tag["Key"].startswith(TAG_PREFIX)}
    room = MAX_TAGS - len(existing)
    added: list[str] = []
    keys: dict[str, str] = {}
    for app in sorted(apps):
        if app not in tagged and room > 0:
            added.append(app)
            room -= 1
        keys[app] = raw_key if app in tagged or app in added else f"{copies_prefix}{app}/{ses_id}"
    if added:
        tag_set = existing + [{"Key": f"{TAG_PREFIX}{app}", "Value": "1"} for app in added]
        s3.put_object_tagging(Bucket=bucket, Key=raw_key, Tagging={"TagSet": tag_set})
    for app in pending:
        if keys[app] != raw_key:
            copy_without_tags(s3, bucket, raw_key, keys[app])
    return {app: keys[app] for app in pending}
