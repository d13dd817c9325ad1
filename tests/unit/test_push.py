"""The pure parts of Web Push: the VAPID audience, the payload around its notificationId,
message ids, and what counts as well-formed subscription keys."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from taskbell import models
from taskbell.domain import TaskStatus
from taskbell.errors import BadUserInput
from taskbell.services import push, vapid
from taskbell.services.push_sender import audience


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
        ("https://push.example:443/x", "https://push.example"),
        ("https://push.example:8443/x?y=1", "https://push.example:8443"),
        ("http://127.0.0.1:9000/push/a", "http://127.0.0.1:9000"),
        ("https://user:pw@push.example/x", "https://push.example"),
    ],
)
def test_the_audience_is_the_endpoints_origin(endpoint: str, origin: str) -> None:
    assert audience(httpx.URL(endpoint)) == origin


def test_the_payload_splices_each_notification_id_into_valid_json() -> None:
    event = models.TaskEvent(
        project_id=3, task_id=7, old_status=TaskStatus.TODO, new_status=TaskStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
    )  # fmt: skip
    head, tail = push.payload_parts('Launch "β"', "Ann changed it", "https://tb.example", event)
    body = json.loads(head + "42" + tail)
    assert body == {
        "title": 'TaskBell · Launch "β"',
        "body": "Ann changed it",
        "url": "https://tb.example",
        "projectId": "3",
        "taskId": "7",
        "notificationId": "42",
    }


@pytest.mark.parametrize(
    ("message_id", "notification"),
    [("push_17_3", 17), ("push_x_3", 0), ("msg_abc_1", 0), ("push_17", 0)],
)
def test_a_message_id_names_its_notification(message_id: str, notification: int) -> None:
    assert push.notification_of(message_id) == notification


def test_browser_keys_pass_and_are_returned_trimmed() -> None:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    padded = base64.urlsafe_b64encode(point).decode()  # some clients keep the padding
    assert push.check_keys(f" {b64url(point)} ", b64url(bytes(16))) == (
        b64url(point),
        b64url(bytes(16)),
    )
    assert push.check_keys(padded, b64url(bytes(16)))[0] == padded


@pytest.mark.parametrize(
    ("p256dh", "auth"),
    [
        (b64url(b"\x04" + bytes(64)), b64url(bytes(16))),  # not on the curve
        ("", b64url(bytes(16))),
        ("B" * 201, b64url(bytes(16))),
        (None, b64url(bytes(15))),
        (None, b64url(bytes(17))),
        (None, "a+b/"),  # base64, not base64url
    ],
)
def test_malformed_keys_are_bad_user_input(p256dh: str | None, auth: str) -> None:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    with pytest.raises(BadUserInput):
        push.check_keys(b64url(point) if p256dh is None else p256dh, auth)


def test_a_compressed_point_is_refused() -> None:
    """PushManager gives the uncompressed form; the encryption (RFC 8291) needs it."""
    compressed = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )
    with pytest.raises(BadUserInput, match="uncompressed"):
        push.check_keys(b64url(compressed), b64url(bytes(16)))


def test_the_public_key_is_the_keys_uncompressed_point() -> None:
    pem = vapid.new_pem()
    raw = base64.urlsafe_b64decode(vapid.public_key_b64url(vapid.load_pem(pem)) + "=")
    assert len(raw) == 65
    assert raw[0] == 4
