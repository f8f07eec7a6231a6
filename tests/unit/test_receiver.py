"""The webhook receiver (tests/receiver.py), each mode seen from a real client on loopback."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import NO_TLS_HERE
from receiver import Receiver, verify

DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    """Requests that must wait (on a hang) while the test goes on."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def post(url: str, timeout: float = 2.0) -> httpx.Response:
    return httpx.post(url, content=b"[]", timeout=timeout, verify=NO_TLS_HERE)


def raw_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]")
    return sock


def test_answers_200_by_default_and_records_the_request(receiver: Receiver) -> None:
    before = time.monotonic()
    response = httpx.post(
        receiver.url + "?attempt=1",
        json=[{"event": "visit"}],
        headers={"Webhook-Id": "msg_1", "X-Twice": "a"},
        timeout=2,
        verify=NO_TLS_HERE,
    )
    assert response.status_code == 200
    [received] = receiver.requests
    assert (received.method, received.path) == ("POST", "/hook?attempt=1")
    assert received.headers["webhook-id"] == received.headers.get("WEBHOOK-ID") == "msg_1"
    assert "Content-Type" in received.headers
    assert received.body == response.request.content
    assert received.json() == [{"event": "visit"}]
    assert before <= received.at <= time.monotonic()
    assert received.answered == 200


def test_answers_any_status_with_headers(receiver: Receiver) -> None:
    receiver.status(500)
    assert post(receiver.url).status_code == 500
    receiver.status(302, {"Location": "http://127.0.0.1:9/elsewhere"})
    moved = post(receiver.url)
    assert (moved.status_code, moved.headers["location"]) == (302, "http://127.0.0.1:9/elsewhere")
    receiver.status(204)
    assert post(receiver.url).status_code == 204
    receiver.ok()
    assert post(receiver.url).status_code == 200
    assert [r.answered for r in receiver.requests] == [500, 302, 204, 200]


def test_a_script_answers_in_order_then_the_mode_does(receiver: Receiver) -> None:
    receiver.status(410)
    receiver.script([500, "reset", 200])
    assert post(receiver.url).status_code == 500
    with pytest.raises(DROPPED):
        post(receiver.url)
    assert [post(receiver.url).status_code for _ in range(3)] == [200, 410, 410]
    assert [r.answered for r in receiver.requests] == [500, "reset", 200, 410, 410]


def test_a_hang_reads_the_request_and_lets_the_client_time_out(receiver: Receiver) -> None:
    receiver.hang()
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(receiver.url, timeout=0.2)
    assert time.monotonic() - started >= 0.2
    [received] = receiver.requests
    assert (received.body, received.answered) == (b"[]", "hang")


def test_release_answers_the_hanging_requests_while_others_go_on(
    receiver: Receiver, background: ThreadPoolExecutor
) -> None:
    receiver.hang()
    hanging: Future[httpx.Response] = background.submit(post, receiver.url)
    receiver.wait_for(lambda requests: len(requests) == 1)
    receiver.ok()
    assert post(receiver.url).status_code == 200
    assert not hanging.done()
    receiver.release()
    assert hanging.result(timeout=2).status_code == 200


def test_a_reset_is_a_tcp_rst_after_the_request_is_read(receiver: Receiver) -> None:
    receiver.reset()
    with pytest.raises(DROPPED):
        post(receiver.url)
    with raw_request(receiver.port) as sock, pytest.raises(ConnectionResetError):
        sock.recv(1024)  # an orderly close would read b""
    assert [(r.path, r.answered) for r in receiver.requests] == [
        ("/hook", "reset"),
        ("/raw", "reset"),
    ]


def test_slow_answers_200_late(receiver: Receiver) -> None:
    receiver.slow(0.3)
    with pytest.raises(httpx.ReadTimeout):
        post(receiver.url, timeout=0.1)
    started = time.monotonic()
    assert post(receiver.url).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_down_refuses_connections_and_up_listens_on_the_same_port(receiver: Receiver) -> None:
    port = receiver.port
    with httpx.Client(timeout=2, verify=NO_TLS_HERE) as client:
        assert client.post(receiver.url).status_code == 200
        receiver.down()
        with pytest.raises(httpx.ConnectError):
            client.post(receiver.url)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        receiver.up()
        assert client.post(receiver.url).status_code == 200
    assert receiver.port == port
    assert len(receiver.requests) == 2


def test_down_drops_a_hanging_request(receiver: Receiver, background: ThreadPoolExecutor) -> None:
    receiver.hang()
    hanging = background.submit(post, receiver.url)
    receiver.wait_for(lambda requests: len(requests) == 1)
    receiver.down()
    with pytest.raises(DROPPED):
        hanging.result(timeout=2)


def test_kept_alive_connections_are_read_request_after_request(receiver: Receiver) -> None:
    with httpx.Client(timeout=2, verify=NO_TLS_HERE) as client:
        client.post(receiver.url, content=b"first")
        client.get(receiver.url)
        client.post(receiver.url, content=b"last", headers={"Connection": "close"})
        client.post(receiver.url, content=b"anew")
    received = receiver.requests
    assert [(r.method, r.body, r.connection) for r in received] == [
        ("POST", b"first", 1),
        ("GET", b"", 1),
        ("POST", b"last", 1),
        ("POST", b"anew", 2),
    ]
    assert [r.body for r in receiver.posts()] == [b"first", b"last", b"anew"]


def test_a_chunked_body_is_recorded_whole(receiver: Receiver) -> None:
    httpx.post(receiver.url, content=iter([b"[1,", b"2]"]), timeout=2, verify=NO_TLS_HERE)
    [received] = receiver.requests
    assert received.headers["transfer-encoding"] == "chunked"
    assert received.json() == [1, 2]


def test_verify_accepts_a_signed_body_and_rejects_a_tampered_one(receiver: Receiver) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    body = '[{"event":"visit"}]'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, body),
    }
    httpx.post(receiver.url, content=body, headers=headers, timeout=2, verify=NO_TLS_HERE)
    httpx.post(
        receiver.url,
        content=body.replace("visit", "order"),
        headers=headers,
        timeout=2,
        verify=NO_TLS_HERE,
    )
    signed, tampered = receiver.requests
    assert verify(secret, signed) == [{"event": "visit"}]
    with pytest.raises(WebhookVerificationError):
        verify(secret, tampered)


def test_wait_for_says_what_arrived_when_it_times_out(receiver: Receiver) -> None:
    receiver.status(503)
    post(receiver.url)
    with pytest.raises(AssertionError, match=r"arrived: 1\n  POST /hook -> 503"):
        receiver.wait_for(lambda requests: len(requests) == 2, timeout=0.05)


def test_unknown_answers_are_refused(receiver: Receiver) -> None:
    with pytest.raises(ValueError, match="200 to 599"):
        receiver.status(100)
    with pytest.raises(ValueError, match="'hang' or 'reset'"):
        receiver.script([200, "teapot"])  # type: ignore[list-item]


def test_stopping_leaves_no_thread_and_frees_the_port(background: ThreadPoolExecutor) -> None:
    for _ in range(10):
        with Receiver() as receiver:
            receiver.hang()
            hanging = background.submit(post, receiver.url)
            receiver.wait_for(lambda requests: len(requests) == 1)
        with pytest.raises(DROPPED):
            hanging.result(timeout=2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", receiver.port), timeout=2).close()
    assert not [t for t in threading.enumerate() if t.name.startswith("receiver-")]
    with Receiver(receiver.port) as again:
        assert post(again.url).status_code == 200
