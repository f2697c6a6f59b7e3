"""Our Standard Webhooks verifier and signer (external-apis.md §3), PAY-01 and PAY-02 at the
unit level. The route-level versions of these promises belong to the payments domain."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from app.integrations.payments import (
    InvalidWebhookSignature,
    WebhookEnvelope,
    WebhookVerifier,
    decode_secret,
    sign,
)

# The known-good vector from the standard-webhooks and replicate test suites (external-apis §1.7).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"hairtryon-test-webhook-key-0001").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"hairtryon-test-webhook-key-0002").decode()
BODY = (
    b'{"business_id":"bus_1","type":"payment.succeeded","timestamp":"2025-05-01T10:02:11Z",'
    b'"data":{"payment_id":"pay_1","status":"succeeded","total_amount":999,"currency":"INR"}}'
)
NOW = 1_750_000_000


def vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": signature,
    }


def refused(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], now: float = NOW
) -> InvalidWebhookSignature:
    with pytest.raises(InvalidWebhookSignature) as caught:
        verifier.verify(body, headers, now=now)
    return caught.value


@pytest.fixture
def verifier() -> WebhookVerifier:
    return WebhookVerifier([SECRET])


def test_the_known_test_vector_verifies() -> None:
    envelope = WebhookVerifier([VECTOR_SECRET]).verify(
        VECTOR_BODY, vector_headers(), now=VECTOR_TIMESTAMP
    )

    assert envelope == WebhookEnvelope(VECTOR_ID, VECTOR_TIMESTAMP, {"test": 2432232314})


def test_the_signer_reproduces_the_known_test_vector() -> None:
    assert sign(VECTOR_BODY, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SECRET) == vector_headers()


def test_the_vector_key_is_the_base64_decoded_secret() -> None:
    assert len(decode_secret(VECTOR_SECRET)) == 24
    # Without the prefix, and without base64 padding, it is the same key.
    assert decode_secret(VECTOR_SECRET.removeprefix("whsec_")) == decode_secret(VECTOR_SECRET)


def test_our_signatures_verify_with_the_standardwebhooks_library() -> None:
    now = int(time.time())
    headers = sign(BODY, "msg_ours", now, SECRET)

    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_the_library_signatures_verify_with_ours(verifier: WebhookVerifier) -> None:
    now = int(time.time())
    header = Webhook(SECRET).sign("msg_theirs", datetime.fromtimestamp(now, tz=UTC), BODY.decode())
    headers = {
        "webhook-id": "msg_theirs",
        "webhook-timestamp": str(now),
        "webhook-signature": header,
    }

    envelope = verifier.verify(BODY, headers, now=now)

    assert envelope.webhook_id == "msg_theirs"
    assert envelope.payload == json.loads(BODY)


def test_the_library_also_refuses_what_we_refuse_for_a_changed_body() -> None:
    now = int(time.time())
    headers = sign(BODY, "msg_1", now, SECRET)

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"999", b"998"), headers)
    with pytest.raises(InvalidWebhookSignature):
        WebhookVerifier([SECRET]).verify(BODY.replace(b"999", b"998"), headers, now=now)


def test_pay01_a_valid_delivery_verifies(verifier: WebhookVerifier) -> None:
    envelope = verifier.verify(BODY, sign(BODY, "msg_1", NOW, SECRET), now=NOW)

    assert envelope.webhook_id == "msg_1"
    assert envelope.timestamp == NOW
    assert envelope.payload["type"] == "payment.succeeded"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_pay01_a_missing_header_is_refused(verifier: WebhookVerifier, missing: str) -> None:
    headers = sign(BODY, "msg_1", NOW, SECRET)
    del headers[missing]

    assert refused(verifier, BODY, headers).reason == "missing_header"


def test_pay01_empty_headers_are_refused(verifier: WebhookVerifier) -> None:
    assert refused(verifier, BODY, {}).reason == "missing_header"
    blank = dict.fromkeys(sign(BODY, "msg_1", NOW, SECRET), "")
    assert refused(verifier, BODY, blank).reason == "missing_header"


@pytest.mark.parametrize(
    "signature_header",
    [
        "garbage",  # no comma: the standardwebhooks library raises a bare ValueError here
        "v1",
        "v1,",
        "v1,!!!not-base64!!!",
        "v1,abc",  # base64 of the wrong length (padding)
        ",AAAA",
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "   ",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,extra",
    ],
)
def test_pay01_a_malformed_signature_header_is_refused(signature_header: str) -> None:
    caught = refused(
        WebhookVerifier([VECTOR_SECRET]),
        VECTOR_BODY,
        vector_headers(signature_header),
        now=VECTOR_TIMESTAMP,
    )

    assert caught.reason in {"malformed_header", "missing_header"}


def test_the_library_raises_a_bare_value_error_where_we_raise_ours(
    verifier: WebhookVerifier,
) -> None:
    # Why we verify ourselves (external-apis §2.6): through the SDK this would be a 500.
    now = int(time.time())
    headers = {**sign(BODY, "msg_1", now, SECRET), "webhook-signature": "garbage"}

    with pytest.raises(ValueError, match="not enough values"):
        Webhook(SECRET).verify(BODY, headers)
    assert refused(verifier, BODY, headers, now=now).reason == "malformed_header"


def test_pay01_a_wrong_signature_is_refused() -> None:
    wrong = "v1," + base64.b64encode(bytes(32)).decode()

    caught = refused(
        WebhookVerifier([VECTOR_SECRET]), VECTOR_BODY, vector_headers(wrong), now=VECTOR_TIMESTAMP
    )

    assert caught.reason == "no_matching_signature"


def test_pay01_a_one_byte_body_change_is_refused(verifier: WebhookVerifier) -> None:
    headers = sign(BODY, "msg_1", NOW, SECRET)
    for index in (0, len(BODY) // 2, len(BODY) - 1):
        changed = bytearray(BODY)
        changed[index] ^= 0x01
        assert refused(verifier, bytes(changed), headers).reason == "no_matching_signature"
    assert refused(verifier, BODY + b" ", headers).reason == "no_matching_signature"
    assert refused(verifier, BODY[:-1], headers).reason == "no_matching_signature"


def test_pay01_a_changed_id_or_timestamp_is_refused(verifier: WebhookVerifier) -> None:
    headers = sign(BODY, "msg_1", NOW, SECRET)

    assert refused(verifier, BODY, {**headers, "webhook-id": "msg_2"}).reason == (
        "no_matching_signature"
    )
    later = {**headers, "webhook-timestamp": str(NOW + 1)}
    assert refused(verifier, BODY, later).reason == "no_matching_signature"


def test_pay01_a_wrong_secret_is_refused() -> None:
    headers = sign(BODY, "msg_1", NOW, OTHER_SECRET)

    assert refused(WebhookVerifier([SECRET]), BODY, headers).reason == "no_matching_signature"


def test_pay01_the_whsec_string_used_as_the_key_does_not_verify(verifier: WebhookVerifier) -> None:
    # The common integration bug (external-apis §2.7): HMAC keyed with the text, not the bytes.
    raw_key_secret = "whsec_" + base64.b64encode(SECRET.encode()).decode()
    headers = sign(BODY, "msg_1", NOW, raw_key_secret)

    assert refused(verifier, BODY, headers).reason == "no_matching_signature"


@pytest.mark.parametrize(
    "reserialise",
    [
        lambda payload: json.dumps(payload),
        lambda payload: json.dumps(payload, indent=2),
        lambda payload: json.dumps(payload, separators=(",", ":"), sort_keys=True),
    ],
)
def test_pay07_a_reserialised_json_body_is_refused(
    verifier: WebhookVerifier, reserialise: object
) -> None:
    headers = sign(BODY, "msg_1", NOW, SECRET)
    assert callable(reserialise)
    again = reserialise(json.loads(BODY)).encode()
    assert again != BODY

    assert refused(verifier, again, headers).reason == "no_matching_signature"


@pytest.mark.parametrize("offset_s", [-6 * 60, 6 * 60, -301, 301, -86_400])
def test_pay02_a_timestamp_outside_the_window_is_refused(
    verifier: WebhookVerifier, offset_s: int
) -> None:
    headers = sign(BODY, "msg_1", NOW + offset_s, SECRET)

    assert refused(verifier, BODY, headers).reason == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset_s", [-4 * 60, 4 * 60, -300, 300, 0])
def test_pay02_a_timestamp_inside_the_window_is_accepted(
    verifier: WebhookVerifier, offset_s: int
) -> None:
    headers = sign(BODY, "msg_1", NOW + offset_s, SECRET)

    assert verifier.verify(BODY, headers, now=NOW).timestamp == NOW + offset_s


def test_pay02_the_window_uses_the_clock_by_default(verifier: WebhookVerifier) -> None:
    fresh = sign(BODY, "msg_1", int(time.time()) - 4 * 60, SECRET)
    stale = sign(BODY, "msg_1", int(time.time()) - 6 * 60, SECRET)

    assert verifier.verify(BODY, fresh).webhook_id == "msg_1"
    with pytest.raises(InvalidWebhookSignature):
        verifier.verify(BODY, stale)


def test_the_tolerance_is_configurable() -> None:
    headers = sign(BODY, "msg_1", NOW - 60, SECRET)

    assert WebhookVerifier([SECRET], tolerance_s=120).verify(BODY, headers, now=NOW)
    assert refused(WebhookVerifier([SECRET], tolerance_s=30), BODY, headers).reason == (
        "timestamp_out_of_tolerance"
    )


@pytest.mark.parametrize(
    "timestamp", ["", "abc", "1614265330.5", "+1614265330", " 1614265330", "1_614_265_330", "-1"]
)
def test_a_malformed_timestamp_is_refused(verifier: WebhookVerifier, timestamp: str) -> None:
    headers = {**sign(BODY, "msg_1", NOW, SECRET), "webhook-timestamp": timestamp}

    assert refused(verifier, BODY, headers).reason in {"malformed_header", "missing_header"}


def test_non_ascii_digits_are_not_a_timestamp(verifier: WebhookVerifier) -> None:
    # int() would read these Arabic-Indic digits as a number.
    arabic = str(NOW).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    headers = {**sign(BODY, "msg_1", NOW, SECRET), "webhook-timestamp": arabic}

    assert refused(verifier, BODY, headers).reason == "malformed_header"


def test_either_secret_verifies_during_a_rotation() -> None:
    rotating = WebhookVerifier([SECRET, OTHER_SECRET])

    for secret in (SECRET, OTHER_SECRET):
        headers = sign(BODY, "msg_1", NOW, secret)
        assert rotating.verify(BODY, headers, now=NOW).webhook_id == "msg_1"
    third = "whsec_" + base64.b64encode(b"hairtryon-test-webhook-key-0003").decode()
    assert refused(rotating, BODY, sign(BODY, "msg_1", NOW, third)).reason == (
        "no_matching_signature"
    )


def test_any_matching_entry_among_several_verifies(verifier: WebhookVerifier) -> None:
    ours = sign(BODY, "msg_1", NOW, SECRET)["webhook-signature"]
    theirs = sign(BODY, "msg_1", NOW, OTHER_SECRET)["webhook-signature"]
    header = f"v1a,c29tZS1lZDI1NTE5LXNpZ25hdHVyZQ== {theirs} garbage {ours}"
    headers = {**sign(BODY, "msg_1", NOW, SECRET), "webhook-signature": header}

    assert verifier.verify(BODY, headers, now=NOW).webhook_id == "msg_1"


def test_header_names_are_case_insensitive(verifier: WebhookVerifier) -> None:
    headers = {name.title(): value for name, value in sign(BODY, "msg_1", NOW, SECRET).items()}

    assert verifier.verify(BODY, headers, now=NOW).webhook_id == "msg_1"


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe\x00", b"[" * 100_000]
)
def test_a_signed_body_that_is_not_a_json_object_is_refused(
    verifier: WebhookVerifier, body: bytes
) -> None:
    headers = sign(body, "msg_1", NOW, SECRET)

    assert refused(verifier, body, headers).reason == "invalid_body"


def test_an_overlong_webhook_id_is_refused(verifier: WebhookVerifier) -> None:
    long_id = "msg_" + "x" * 300

    assert refused(verifier, BODY, sign(BODY, long_id, NOW, SECRET)).reason == "malformed_header"


@pytest.mark.parametrize("secret", ["whsec_", "whsec_***", "whsec_abc$", "", "   "])
def test_an_unusable_secret_fails_at_construction(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        WebhookVerifier([secret])


def test_a_lone_string_is_not_taken_for_a_list_of_secrets() -> None:
    with pytest.raises(TypeError):
        WebhookVerifier(SECRET)


def test_a_non_positive_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier([SECRET], tolerance_s=0)


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=512),
    webhook_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40),
    flip=st.integers(min_value=0),
)
def test_any_change_to_a_signed_body_is_refused(body: bytes, webhook_id: str, flip: int) -> None:
    headers = sign(body, webhook_id, NOW, SECRET)
    changed = bytearray(body)
    changed[flip % len(body)] ^= 0x80

    with pytest.raises(InvalidWebhookSignature) as caught:
        WebhookVerifier([SECRET]).verify(bytes(changed), headers, now=NOW)
    assert caught.value.reason == "no_matching_signature"
