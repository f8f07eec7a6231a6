"""One root exception; subclasses are named for the situation, and their docstring is the default message."""

from __future__ import annotations


class FootfallError(Exception):
    """Footfall failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(FootfallError):
    """A FOOTFALL_* setting has an invalid value."""


class InvalidEvent(FootfallError):
    """The event is invalid."""

    reason = "invalid"  # how the failed-event log and the hourly statistics file it

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedBody(InvalidEvent):
    """The request body is not valid JSON."""

    reason = "malformed_json"


class TooDeep(InvalidEvent):
    """A value nests objects and arrays more deeply than Footfall stores."""

    reason = "too_deep"


class TooManyNewTypes(InvalidEvent):
    """The workspace created as many new event types today as it may."""

    reason = "too_many_types"


class TooManyNewParams(InvalidEvent):
    """The workspace's types gained as many new parameter names today as they may."""

    reason = "too_many_params"


class NoLocator(InvalidEvent):
    """The event has no keyValue and no param that identifies a contact."""

    reason = "missing_locator"


class ParamsMissing(InvalidEvent):
    """The event lacks parameters its type requires."""

    reason = "params"


class SchemaViolation(InvalidEvent):
    """The event's params do not match its type's JSON Schema."""

    reason = "schema"


class BodyTimeout(FootfallError):
    """The request body did not arrive in time (a client that stalls, or sends less than it
    declared)."""

    reason = "timeout"


class BodyTooLarge(FootfallError):
    """The request body is too large."""

    reason = "too_large"

    def __init__(self, message: str | None = None, *, prefix: bytes = b"", size: int = 0) -> None:
        super().__init__(message)
        self.prefix = prefix  # what was read before the limit: kept in the failed-event log
        self.size = size


class StorageUnavailable(FootfallError):
    """Storage is unavailable; nothing was stored, retry later."""


class AddressUnavailable(FootfallError):
    """The address to serve on is in use, or not one of this host's."""


class UnknownWorkspace(FootfallError):
    """No such workspace."""


class WorkspaceExists(FootfallError):
    """A workspace with this name already exists."""


class UnknownKey(FootfallError):
    """No such API key in this workspace."""


class KeyConflict(FootfallError):
    """The key cannot change this way now (revoked or rotated already, or too many keys)."""


class InvalidQuery(FootfallError):
    """The query is invalid."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the parameter or body field at fault, when one is


class Unauthorized(FootfallError):
    """Missing or invalid credentials: use HTTP Basic with the API key as password, or a bearer token."""


class Forbidden(FootfallError):
    """This API key's scope does not allow this call."""


class RateLimited(FootfallError):
    """Too many requests for this API key; slow down."""


class InvalidContact(FootfallError):
    """The contact is invalid."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ContactNotFound(FootfallError):
    """No such contact in this workspace."""


class IdentityConflict(FootfallError):
    """An identifier given belongs to another contact."""


class UnknownEventType(FootfallError):
    """No such event type in this workspace."""


class InvalidWebhook(FootfallError):
    """The webhook subscription is invalid."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsafeTarget(InvalidWebhook):
    """The webhook URL leads to an address Footfall does not send to (loopback, private,
    link-local, multicast or cloud metadata) and FOOTFALL_WEBHOOK_ALLOW_HOSTS does not allow it."""


class TargetUnreachable(InvalidWebhook):
    """The webhook URL did not answer the check (a GET) with a 2xx."""


class WebhookNotFound(FootfallError):
    """No such webhook subscription in this workspace."""


class TooManyWebhooks(FootfallError):
    """The workspace has as many webhook subscriptions as it may (50); delete one first."""


class InvalidWorkflow(FootfallError):
    """The workflow definition is invalid."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # where in the document: "blocks[2].delay", "start.when.all[0].op"


class InvalidTemplate(FootfallError):
    """The message template is invalid."""

    def __init__(
        self, message: str | None = None, *, field: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.field = field  # which part: "subject", "html", "text"
        self.line = line  # the line of that part the error is on, when there is one


class TemplateNotFound(FootfallError):
    """No such message template in this workspace."""


class TemplateExists(FootfallError):
    """Another message template of this workspace has this name."""


class TooManyTemplates(FootfallError):
    """The workspace has as many message templates as it may; delete one first."""


class EventNotFound(FootfallError):
    """No such event in this workspace."""


class PreviewFailed(FootfallError):
    """The template could not be rendered from this data."""


class WorkflowNotFound(FootfallError):
    """No such workflow in this workspace."""


class TooManyWorkflows(FootfallError):
    """The workspace has as many workflows as it may; delete one first."""


class WorkflowExists(FootfallError):
    """Another workflow of this workspace has this name."""
