"""The local upload endpoint's checks: S3-style POST policies, refused with S3's own error
codes and messages in S3's XML error format (what the SPA's upload code parses)."""

from __future__ import annotations

import base64
import json
import time
from xml.etree import ElementTree

import pytest

from app.integrations.storage.local import LocalStorage
from app.integrations.storage.port import PresignedPost
from app.integrations.storage.post_policy import PolicyCheck, PolicyViolation, s3_error_xml
from tests.integrations.storage.conftest import PUBLIC_BASE_URL

KEY = "uploads/user_7/0f3a9c.png"


def error_of(violation: PolicyViolation) -> dict[str, str]:
    root = ElementTree.fromstring(violation.to_xml())
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


@pytest.fixture
def storage(local_storage: LocalStorage) -> LocalStorage:
    return local_storage


@pytest.fixture
async def post(storage: LocalStorage) -> PresignedPost:
    return await storage.presigned_post(KEY, "image/png", max_bytes=100, expires_in=60)


async def test_policy_accepts_the_upload_it_describes(
    storage: LocalStorage, post: PresignedPost
) -> None:
    assert post.url == f"{PUBLIC_BASE_URL}/api/v1/files/upload-form"
    assert set(post.fields) == {"key", "Content-Type", "policy", "signature"}
    check = storage.verify_post_policy(post.fields, 100, "image/png")

    assert check == PolicyCheck(key=KEY, content_type="image/png", size=100)


async def test_policy_document_has_s3_shape(post: PresignedPost) -> None:
    document = json.loads(base64.b64decode(post.fields["policy"]))

    assert document["expiration"].endswith("Z")
    assert document["conditions"] == [
        {"key": KEY},
        {"Content-Type": "image/png"},
        ["content-length-range", 1, 100],
    ]


async def test_expired_policy_is_access_denied(storage: LocalStorage, post: PresignedPost) -> None:
    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(post.fields, 10, "image/png", now=time.time() + 61)

    assert raised.value.status_code == 403
    assert error_of(raised.value) == {
        "Code": "AccessDenied",
        "Message": "Invalid according to Policy: Policy expired.",
    }


async def test_tampered_signature_is_refused(storage: LocalStorage, post: PresignedPost) -> None:
    fields = {**post.fields, "signature": "0" * 64}

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(fields, 10, "image/png")

    assert raised.value.status_code == 403
    assert error_of(raised.value)["Code"] == "SignatureDoesNotMatch"


async def test_rewritten_policy_is_refused(storage: LocalStorage, post: PresignedPost) -> None:
    document = json.loads(base64.b64decode(post.fields["policy"]))
    document["conditions"][2] = ["content-length-range", 1, 10**9]
    bigger = base64.b64encode(json.dumps(document).encode()).decode()

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy({**post.fields, "policy": bigger}, 10**6, "image/png")

    assert raised.value.code == "SignatureDoesNotMatch"


async def test_policy_from_another_signing_key_is_refused(storage: LocalStorage) -> None:
    other = LocalStorage(storage.root, PUBLIC_BASE_URL, b"another-signing-key-0123456789")
    foreign = await other.presigned_post(KEY, "image/png", max_bytes=100)

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(foreign.fields, 10, "image/png")

    assert raised.value.code == "SignatureDoesNotMatch"


async def test_policy_cannot_write_another_key(storage: LocalStorage, post: PresignedPost) -> None:
    fields = {**post.fields, "key": "uploads/user_8/overwrite.png"}

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(fields, 10, "image/png")

    assert error_of(raised.value) == {
        "Code": "AccessDenied",
        "Message": f'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "{KEY}"]',
    }


async def test_policy_refuses_another_content_type(
    storage: LocalStorage, post: PresignedPost
) -> None:
    fields = {**post.fields, "Content-Type": "text/html"}

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(fields, 10, "text/html")

    assert raised.value.status_code == 403
    assert "$Content-Type" in error_of(raised.value)["Message"]


async def test_file_part_type_counts_only_without_the_field(
    storage: LocalStorage, post: PresignedPost
) -> None:
    without_field = {name: value for name, value in post.fields.items() if name != "Content-Type"}

    assert storage.verify_post_policy(without_field, 10, "image/png").content_type == "image/png"
    with pytest.raises(PolicyViolation):
        storage.verify_post_policy(without_field, 10, "image/jpeg")
    with pytest.raises(PolicyViolation):
        storage.verify_post_policy(without_field, 10, None)
    # As on S3, the form field decides; a browser's part header does not override it.
    assert storage.verify_post_policy(post.fields, 10, "application/octet-stream").size == 10


async def test_oversize_file_is_entity_too_large_in_s3_xml(
    storage: LocalStorage, post: PresignedPost
) -> None:
    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(post.fields, 101, "image/png")

    assert raised.value.status_code == 400
    assert error_of(raised.value) == {
        "Code": "EntityTooLarge",
        "Message": "Your proposed upload exceeds the maximum allowed object size.",
        "ProposedSize": "101",
        "MaxSizeAllowed": "100",
    }


async def test_empty_file_is_entity_too_small(storage: LocalStorage, post: PresignedPost) -> None:
    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(post.fields, 0, "image/png")

    assert raised.value.status_code == 400
    assert error_of(raised.value) == {
        "Code": "EntityTooSmall",
        "Message": "Your proposed upload is smaller than the minimum allowed object size.",
        "ProposedSize": "0",
        "MinSizeAllowed": "1",
    }


async def test_fields_outside_the_policy_are_refused(
    storage: LocalStorage, post: PresignedPost
) -> None:
    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy({**post.fields, "acl": "public-read"}, 10, "image/png")

    assert error_of(raised.value)["Message"] == (
        "Invalid according to Policy: Extra input fields: acl"
    )
    # S3 lets clients send fields prefixed x-ignore- without a policy condition.
    assert storage.verify_post_policy({**post.fields, "x-ignore-name": "a.png"}, 10, "image/png")


async def test_form_without_policy_is_access_denied(
    storage: LocalStorage, post: PresignedPost
) -> None:
    fields = {"key": KEY, "Content-Type": "image/png"}

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(fields, 10, "image/png")

    assert error_of(raised.value) == {"Code": "AccessDenied", "Message": "Access Denied"}


async def test_policy_terms_are_known_before_the_file_is_read(
    storage: LocalStorage, post: PresignedPost
) -> None:
    terms = storage.read_post_policy(post.fields)

    assert (terms.key, terms.content_type, terms.max_bytes) == (KEY, "image/png", 100)


def test_s3_error_xml_escapes_values() -> None:
    xml = s3_error_xml("InvalidArgument", "<script>&'\"", Key="a&b<c>", RequestId=7)

    root = ElementTree.fromstring(xml)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>')
    assert [(child.tag, child.text) for child in root] == [
        ("Code", "InvalidArgument"),
        ("Message", "<script>&'\""),
        ("Key", "a&b<c>"),
        ("RequestId", "7"),
    ]
    with pytest.raises(ValueError, match="element name"):
        s3_error_xml("X", "y", **{"bad name": "z"})


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("signature", "ünïcode-signature", "SignatureDoesNotMatch"),
        ("policy", "pölicy", "SignatureDoesNotMatch"),
        ("key", "uploads/user_7/ü.png", "AccessDenied"),
        ("Content-Type", "image/pñg", "AccessDenied"),
        ("x-amz-meta-ñame", "value", "AccessDenied"),
        ("signature", "\ud800", "SignatureDoesNotMatch"),
    ],
)
async def test_non_ascii_form_fields_are_refused_like_s3(
    storage: LocalStorage, post: PresignedPost, field: str, value: str, code: str
) -> None:
    fields = {**post.fields, field: value}

    with pytest.raises(PolicyViolation) as raised:
        storage.verify_post_policy(fields, 10, "image/png")

    assert raised.value.status_code in {400, 403}
    assert error_of(raised.value)["Code"] == code
