"""How ``footfall webhooks`` shows subscriptions and delivery attempts: as text for people, and
as JSON the way the API shows them (without importing the web layer: the CLI starts faster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from footfall.cli.common import when

if TYPE_CHECKING:
    from footfall.records import WebhookSpec
    from footfall.store.webhooks import Attempt, Pending, Webhook

__all__ = ["attempt_json", "print_attempts", "print_webhook", "print_webhooks", "webhook_json"]


def webhook_json(webhook: Webhook, waiting: Pending) -> dict[str, Any]:
    """As ``GET /api/v1/webhooks/{id}`` shows it (without importing the web layer)."""
    spec = webhook.spec
    basic = None if spec.basic_username is None else {"username": spec.basic_username}
    return {
        "id": webhook.id,
        "url": spec.url,
        "eventTypes": list(spec.event_types),
        "streams": list(spec.streams),
        "batchSize": spec.batch_size,
        "basicAuth": basic,
        "status": webhook.status,
        "statusReason": webhook.status_reason,
        "pending": waiting.pending,
        "deadLettered": waiting.dead,
        "nextAttempt": None if waiting.due_us is None else when(waiting.due_us),
        "failedAttempts": waiting.attempts,
        "created": when(webhook.created_us),
        "updated": when(webhook.updated_us),
    }


def _status(webhook: Webhook) -> str:
    reason = webhook.status_reason
    return (
        webhook.status if not reason or reason == webhook.status else f"{webhook.status} ({reason})"
    )


def _types(spec: WebhookSpec, most: int = 3) -> str:
    if not spec.event_types:
        return "all"
    shown = ",".join(spec.event_types[:most])
    more = len(spec.event_types) - most
    return shown if more <= 0 else f"{shown},… (+{more})"


def print_webhook(webhook: Webhook, waiting: Pending) -> None:
    spec = webhook.spec
    auth = "-" if spec.basic_username is None else f"{spec.basic_username} (password not shown)"
    fields = [
        ("id", webhook.id),
        ("url", spec.url),
        ("status", _status(webhook)),
        ("streams", ",".join(spec.streams)),
        ("event types", ",".join(spec.event_types) or "all"),
        ("batch size", spec.batch_size),
        ("basic auth", auth),
        ("pending", waiting.pending),
        ("dead-lettered", waiting.dead),
        ("next attempt", when(waiting.due_us)),
        ("failed attempts", waiting.attempts),
        ("created", when(webhook.created_us)),
        ("updated", when(webhook.updated_us)),
    ]
    for name, value in fields:
        click.echo(f"{name + ':':<17}{value}")


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """Columns as wide as their widest cell; the last one is not padded."""
    cells = [header, *[tuple(str(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    for row in cells:
        padded = [f"{cell:<{width}}" for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*padded, row[-1]]))


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """As ``GET /api/v1/webhooks/{id}/deliveries`` lists it."""
    return {
        "messageId": attempt.message_id,
        "at": when(attempt.at_us),
        "statusCode": attempt.status_code,
        "error": attempt.error,
        "latencyMs": round(attempt.latency_ms, 1),
        "items": attempt.items,
        "nextRetry": None if attempt.next_retry_us is None else when(attempt.next_retry_us),
    }


def print_webhooks(listed: list[tuple[Webhook, Pending]]) -> None:
    header = ("ID", "STATUS", "URL", "STREAMS", "EVENT TYPES", "PENDING", "DEAD-LETTERED")
    rows: list[tuple[object, ...]] = [
        (h.id, h.status, h.spec.url, ",".join(h.spec.streams), _types(h.spec), p.pending, p.dead)
        for h, p in listed
    ]
    _table(header, rows)


def print_attempts(attempts: list[Attempt]) -> None:
    header = ("AT", "MESSAGE ID", "STATUS", "LATENCY", "ITEMS", "NEXT RETRY", "ERROR")
    rows: list[tuple[object, ...]] = [
        (
            when(a.at_us),
            a.message_id,
            "-" if a.status_code is None else a.status_code,
            f"{a.latency_ms:.1f} ms",
            a.items,
            when(a.next_retry_us),
            a.error or "-",
        )
        for a in attempts
    ]
    _table(header, rows)
