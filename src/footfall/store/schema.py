"""The schema as SQLAlchemy metadata: the one description both migrations and tests compare against.

Times are integer microseconds since the Unix epoch (UTC) on every backend, so the same SQL runs on
SQLite and PostgreSQL. Every table carries ``workspace_id`` (directly or through its contact) so that
every query can be scoped to one workspace, and every record derived from a contact carries
``contact_id`` so that erasing a contact can reach it.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# A workspace's settings for workflows (store/workspace_settings.py): its IANA time zone (NULL:
# UTC) and the daily window actions may run in, "HH:MM" each (both NULL: any time).
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Column("allowed_from", sa.String(5), nullable=True),
    sa.Column("allowed_to", sa.String(5), nullable=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    # When the key stops (or stopped) working: later than now during a rotation's grace period.
    sa.Column("revoked_us", sa.BigInteger, nullable=True),
    # Written on a store lookup at most once a minute, never on a cached request.
    sa.Column("last_used_us", sa.BigInteger, nullable=True),
    sa.Index("ix_api_keys_workspace", "workspace_id", "id"),
)

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", Id, sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("external_customer_id", sa.Text, nullable=True),
    sa.Column("first_name", sa.Text, nullable=True),
    sa.Column("last_name", sa.Text, nullable=True),
    sa.Column("fields", Json, nullable=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    # Set on a contact merged into another one; chains are kept one hop long.
    sa.Column("merged_into", Id, sa.ForeignKey("contacts.id"), nullable=True),
    sa.Column("deleted_us", sa.BigInteger, nullable=True),
    sa.Column("address", Json, nullable=True),
    sa.Column("language_code", sa.Text, nullable=True),
    sa.Column("time_zone", sa.Text, nullable=True),
    # Known only by an anonymous visitor id so far.
    sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_contacts_workspace", "workspace_id", "id"),
    sa.Index("ix_contacts_merged_into", "merged_into"),
    # A workspace's contacts changed since a moment (the date scan of workflows follows them).
    sa.Index("ix_contacts_changed", "workspace_id", "updated_us", "id"),
)

# One row per identifier a contact can be found by: kind is externalCustomerId, email (lower-cased,
# normalised), phone (E.164), pushToken, anonymousId or another channel type (viber, appinbox…).
# ``channel`` is the channel type a client named (webpush or mobilepush for a push token). The
# unique key is what makes concurrent creation safe.
contact_identifiers = sa.Table(
    "contact_identifiers",
    metadata,
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("kind", sa.String(24), primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("channel", sa.String(24), nullable=True),
    sa.Index("ix_contact_identifiers_contact", "contact_id"),
)

# The audit trail of merges: who (the API key), when, why. Reasons name identifier kinds, never
# their values, and rows go when either contact is erased.
contact_merges = sa.Table(
    "contact_merges",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("survivor_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("merged_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("key_id", Id, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Index("ix_contact_merges_workspace", "workspace_id", "id"),
    sa.Index("ix_contact_merges_survivor", "survivor_id"),
    sa.Index("ix_contact_merges_merged", "merged_id"),
)

# Merges refused because both contacts carry different externalCustomerIds, and other identity
# conflicts an operator should look at.
identity_warnings = sa.Table(
    "identity_warnings",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("other_contact_id", Id, sa.ForeignKey("contacts.id"), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("key_id", Id, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    # The same conflict seen again adds up here instead of adding a row per event.
    sa.Column("occurrences", sa.BigInteger, nullable=False),
    sa.Column("last_seen_us", sa.BigInteger, nullable=False),
    sa.Index("ix_identity_warnings_workspace", "workspace_id", "id"),
    sa.Index("ix_identity_warnings_contact", "contact_id"),
    sa.Index("ix_identity_warnings_other", "other_contact_id"),
)

event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("first_seen_us", sa.BigInteger, nullable=False),
    # The operator's rules: {"validateParams", "params": [{name, required}], "jsonSchema"}.
    sa.Column("settings", Json, nullable=True),
    sa.Column("updated_us", sa.BigInteger, nullable=True),
)

# The observed structure of each type: every parameter name with each JSON type seen for it.
# last_seen_us is refreshed at most once a minute per process (it is a hint, not a counter).
event_type_params = sa.Table(
    "event_type_params",
    metadata,
    sa.Column("workspace_id", Id, primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("json_type", sa.String(8), primary_key=True),
    sa.Column("first_seen_us", sa.BigInteger, nullable=False),
    sa.Column("last_seen_us", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["workspace_id", "key"], ["event_types.workspace_id", "event_types.key"]
    ),
)

# How many new types and (type, parameter name) pairs each workspace added on ``day`` (days since
# the epoch, UTC), against FOOTFALL_MAX_NEW_*_PER_DAY; one row per workspace, raised under its lock.
event_type_growth = sa.Table(
    "event_type_growth",
    metadata,
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("day", sa.BigInteger, nullable=False),
    sa.Column("new_types", sa.BigInteger, nullable=False),
    sa.Column("new_names", sa.BigInteger, nullable=False),
)

# Accepted and rejected events per type and hour (outcome: "accepted" or the rejection reason;
# key "" when a rejected body named no type). Sharded like event_type_counts.
event_type_hourly = sa.Table(
    "event_type_hourly",
    metadata,
    sa.Column("workspace_id", Id, primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("hour_us", sa.BigInteger, primary_key=True),
    sa.Column("outcome", sa.String(40), primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("event_count", sa.BigInteger, nullable=False),
)

# Every event Footfall refused after the key identified a workspace, with the raw body (bounded)
# so it can be replayed once the type's rules are fixed. Replay marks the row in the same
# transaction that stores the event: exactly once.
failed_events = sa.Table(
    "failed_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("event_type_key", sa.String(100), nullable=False),
    sa.Column("key_value", sa.Text, nullable=True),
    sa.Column("route", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("raw_bytes", sa.BigInteger, nullable=False),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("replayed_us", sa.BigInteger, nullable=True),
    sa.Index("ix_failed_events_workspace", "workspace_id", "id"),
    sa.Index("ix_failed_events_type", "workspace_id", "event_type_key", "id"),
    sa.Index("ix_failed_events_received", "received_us"),
)

# Counts per type are split over a few shards (each writer process picks one) so that concurrent
# writers on PostgreSQL never queue on one hot counter row; readers add the shards up.
event_type_counts = sa.Table(
    "event_type_counts",
    metadata,
    sa.Column("workspace_id", Id, primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("event_count", sa.BigInteger, nullable=False),
    sa.Column("last_seen_us", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["workspace_id", "key"], ["event_types.workspace_id", "event_types.key"]
    ),
)

# ``txid`` is the PostgreSQL transaction id (xid8) that wrote the row; the ordered feed uses it to
# never pass a row whose transaction is still open. On SQLite writes are serial and it stays 0.
# AUTOINCREMENT: without it SQLite hands the id of an erased newest event to the next one, which
# a feed consumer positioned past that id would never see (PostgreSQL sequences never go back).
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("event_type_key", sa.String(100), nullable=False),
    sa.Column("key_value", sa.String(300), nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=True),
    sa.Column("params", Json, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("occurred_us", sa.BigInteger, nullable=False),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("txid", sa.BigInteger, nullable=True),
    sa.Index("ix_events_workspace_occurred", "workspace_id", "occurred_us", "id"),
    sa.Index("ix_events_workspace_key", "workspace_id", "key_value", "occurred_us"),
    sa.Index("ix_events_workspace_type", "workspace_id", "event_type_key", "occurred_us"),
    sa.Index("ix_events_contact", "contact_id", "occurred_us"),
    sqlite_autoincrement=True,
)

# The companion feed of identity changes, read in commit order like events: "contactMerged"
# (contact_id survived, merged_id was folded into it) and "contactErased" (contact_id is gone).
# Ids only, and no foreign key to contacts on purpose: an erased contact's id must outlive it so
# that consumers can erase what they derived from it.
identity_changes = sa.Table(
    "identity_changes",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("contact_id", Id, nullable=False),
    sa.Column("merged_id", Id, nullable=True),
    sa.Column("txid", sa.BigInteger, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sqlite_autoincrement=True,
)
# Columns that name a contact without a foreign key, so erasure leaves them (ids, never values).
ERASED_IDS_KEPT = frozenset({("identity_changes", "contact_id"), ("identity_changes", "merged_id")})

# The feeds read in (txid, id) order. Only PostgreSQL needs the index: on SQLite txid is always 0
# and the feed walks the rowid.
POSTGRESQL_ONLY = frozenset({"ix_events_feed", "ix_identity_changes_feed"})
sa.Index("ix_events_feed", events.c.txid, events.c.id).ddl_if(dialect="postgresql")
sa.Index("ix_identity_changes_feed", identity_changes.c.txid, identity_changes.c.id).ddl_if(
    dialect="postgresql"
)


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's filter for comparing this metadata with a database of ``dialect``."""

    def include(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return dialect == "postgresql" or name not in POSTGRESQL_ONLY

    return include


orders = sa.Table(
    "orders",
    metadata,
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("external_order_id", sa.String(300), primary_key=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("total_cost", sa.Float, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("order_date", sa.Text, nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.Index("ix_orders_contact", "contact_id"),
)

# Where each feed consumer (workflows, webhooks, analytics…) has got to: (txid, id) of the last
# event it processed.
feed_offsets = sa.Table(
    "feed_offsets",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("last_txid", sa.BigInteger, nullable=False),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

# Who may run something that must run in one process at a time: a feed consumer, a periodic job.
# A lease is held until ``until_us``; a process that died loses it then (see store/leases.py).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("until_us", sa.BigInteger, nullable=False),
)


# Outgoing webhooks (store/webhooks.py). A subscription's items wait in the outbox as references
# to the feed (an event or an identity change), never as copies: erasing an event leaves nothing
# of it here to erase. ``dead`` items are the dead-letter list of a paused subscription.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", sa.Text, nullable=False),  # a JSON array; [] is every type
    sa.Column("streams", sa.Text, nullable=False),  # a JSON array: "events", "identity"
    sa.Column("batch_size", sa.Integer, nullable=False),
    sa.Column("basic_username", sa.Text, nullable=True),
    sa.Column("basic_password", sa.Text, nullable=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active, disabled, paused
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.Index("ix_webhooks_workspace", "workspace_id", "id"),
    sqlite_autoincrement=True,  # an id is never handed out twice (migration 0008)
)

webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", Id, sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=True),
    sa.Column("change_id", sa.BigInteger, nullable=True),
    sa.Column("dead", sa.Boolean, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Index("ix_webhook_outbox_pending", "webhook_id", "dead", "id"),
    sqlite_autoincrement=True,
)

# Due work (deliveries now; timers and messages next): one row per thing to do, due at
# ``due_us`` (NULL: nothing to do now), held by ``owner`` until ``until_us`` while a worker does
# it. ``state`` is the kind's own JSON (a delivery's message id and the items it carries, kept
# across its retries).
due_work = sa.Table(
    "due_work",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("subject", sa.BigInteger, primary_key=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("due_us", sa.BigInteger, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failing_since_us", sa.BigInteger, nullable=True),
    sa.Column("state", sa.Text, nullable=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("until_us", sa.BigInteger, nullable=False),
    sa.Index("ix_due_work_due", "kind", "due_us"),
    sa.Index("ix_due_work_workspace", "kind", "workspace_id", "due_us"),
)

# Each delivery attempt: when, to what answer, how long, how many items, the next try.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", Id, sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("next_retry_us", sa.BigInteger, nullable=True),
    sa.Index("ix_webhook_attempts_webhook", "webhook_id", "id"),
)


# Message templates (store/message_templates.py): a workspace's templates by name, each part's
# source as it was given (checked when saved, compiled again when used).
message_templates = sa.Table(
    "message_templates",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("syntax", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("transactional", sa.Boolean, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "name", name="uq_message_templates_name"),
    sqlite_autoincrement=True,
)


# Workflows (store/workflows.py): a workflow's current state, and every version of its document
# (a run keeps the version it started with). ``start_event`` is the current version's start event
# type, for finding the workflows an event may start.
workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("start_event", sa.Text, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "name", name="uq_workflows_name"),
    sa.Index("ix_workflows_start", "workspace_id", "start_event"),
    sqlite_autoincrement=True,
)

workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # the JSON document as it was given
    sa.Column("created_us", sa.BigInteger, nullable=False),
)


# A workflow's runs (store/workflow_runs.py): one per start, on the version it started with, for
# one contact (merges carry runs to the survivor; erasure deletes them with their steps). The
# starting event is read from ``events`` when a block needs it, never copied. ``match_keys``
# (a JSON array) are the starting event's values at stop.matchParam. ``listen_event`` is the
# event type a run waiting on a waitEvent block listens for. Its next step is a ``due_work`` row
# (kind ``workflow_run``).
workflow_runs = sa.Table(
    "workflow_runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("match_keys", sa.Text, nullable=True),
    sa.Column(
        "status", sa.String(16), nullable=False
    ),  # running, waiting, completed, stopped, failed
    sa.Column("block", sa.String(64), nullable=True),
    sa.Column("listen_event", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("started_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.Column("ended_us", sa.BigInteger, nullable=True),
    # A run started by a contact date (event_id 0): the anniversary it is for, YYYY-MM-DD in
    # the contact's calendar; a contact starts once per occasion. NULL for the others.
    sa.Column("occasion", sa.String(10), nullable=True),
    sa.Index("ix_workflow_runs_contact", "contact_id", "workflow_id", "started_us"),
    sa.Index("ix_workflow_runs_workflow", "workflow_id", "id"),
    sa.Index("ix_workflow_runs_ended", "ended_us"),
    sqlite_autoincrement=True,
)

# The path each run took: every block it passed, the branch it took, when.
workflow_steps = sa.Table(
    "workflow_steps",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("workflow_runs.id"), nullable=False),
    sa.Column("block", sa.String(64), nullable=False),
    sa.Column("branch", sa.String(64), nullable=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Index("ix_workflow_steps_run", "run_id", "id"),
)

# Goal blocks runs passed: open until their conversion event comes or the window ends.
workflow_goals = sa.Table(
    "workflow_goals",
    metadata,
    sa.Column("run_id", Id, sa.ForeignKey("workflow_runs.id"), primary_key=True),
    sa.Column("block", sa.String(64), primary_key=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("passed_us", sa.BigInteger, nullable=False),
    sa.Column("until_us", sa.BigInteger, nullable=False),
    sa.Column("reached_us", sa.BigInteger, nullable=True),
    sa.Column("event_id", sa.BigInteger, nullable=True),
    sa.Index("ix_workflow_goals_contact", "contact_id", "until_us"),
)

# Where the date scan of a workflow started by a contact date is (store/workflow_dates.py): every
# moment up to ``until_us`` has its runs; a pass over the workspace's contacts in progress has
# reached contact ``pass_after`` on its way to ``pass_until_us``; contacts changed after
# (``changed_us``, ``changed_id``) are still to be looked at. ``spec`` is the start (field,
# daysBefore, at) the window was computed for: another one starts the window again.
workflow_date_scans = sa.Table(
    "workflow_date_scans",
    metadata,
    sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("until_us", sa.BigInteger, nullable=False),
    sa.Column("pass_until_us", sa.BigInteger, nullable=True),
    sa.Column("pass_after", sa.BigInteger, nullable=False),
    sa.Column("changed_us", sa.BigInteger, nullable=False),
    sa.Column("changed_id", sa.BigInteger, nullable=False),
)


def contact_references() -> list[tuple[str, str]]:
    """(table, column) of every column pointing at a contact: what erasure and export must reach.

    Derived from the foreign keys, so a table added later that references contacts is covered
    without anyone remembering to list it.
    """
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "contacts" for fk in column.foreign_keys):
                found.append((table.name, column.name))
    return found
