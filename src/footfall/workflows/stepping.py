"""How a run moves through its workflow: pure, given the plan, the block it is at, and the facts
(the starting event's params, the contact's fields).

``advance`` passes the blocks that take no time (conditions, splits, goals) until one that waits
(a timer, a wait for an event), acts (an HTTP request, an emitted event, a contact field set) or
ends the run; the engine does the waiting and the acting, then calls ``advance`` again from
where the block's branch leads (``follow``). A workflow has no loops, so a run's steps are
bounded by its blocks. A split's branch is fixed per contact and block: a hash of both, spread
over the weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from footfall.workflows.conditions import Facts, evaluate
from footfall.workflows.document import (
    ConditionBlock,
    Emit,
    End,
    Goal,
    Http,
    SetField,
    Split,
    Timer,
    WaitEvent,
)
from footfall.workflows.plan import Plan

__all__ = ["Act", "Finish", "Listen", "Outcome", "Passed", "Wait", "advance", "follow", "split"]


@dataclass(frozen=True, slots=True)
class Passed:
    """A block the run went through, and the branch it took there."""

    block: str
    branch: str


@dataclass(frozen=True, slots=True)
class Wait:
    """At a timer: the engine computes when it is due."""

    block: str


@dataclass(frozen=True, slots=True)
class Listen:
    """At a wait for an event, until the event comes or the timeout passes."""

    block: str


@dataclass(frozen=True, slots=True)
class Act:
    """At an action block: the engine performs it, then follows the branch of its outcome."""

    block: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The run is over: ``completed`` (an end block) or ``failed`` (with why)."""

    status: str
    block: str
    reason: str | None = None


Outcome = Wait | Listen | Act | Finish


def advance(plan: Plan, block_id: str, facts: Facts, seed: str) -> tuple[list[Passed], Outcome]:
    """From ``block_id`` (not passed yet): the blocks passed at once, and where the run stops.
    ``seed`` fixes the splits' choices (e.g. the workflow and the contact)."""
    passed: list[Passed] = []
    for _ in range(len(plan.blocks) + 1):
        block = plan.blocks[block_id]
        if isinstance(block, End):
            return passed, Finish("completed", block_id)
        if isinstance(block, Timer):
            return passed, Wait(block_id)
        if isinstance(block, WaitEvent):
            return passed, Listen(block_id)
        if isinstance(block, Http | Emit | SetField):
            return passed, Act(block_id)
        branch = _instant_branch(plan, block, facts, seed)
        passed.append(Passed(block_id, branch))
        following = plan.after(block_id, branch)
        assert following is not None  # every branch of these blocks has its edge
        block_id = following
    raise AssertionError("a workflow has no loops")  # pragma: no cover - the graph is checked


def follow(
    plan: Plan, block_id: str, branch: str, facts: Facts, seed: str
) -> tuple[list[Passed], Outcome]:
    """After ``block_id`` took ``branch`` (a timer's "next", a wait's "event" or "timeout", an
    action's "next" or "failed"): that step, then ``advance`` from where it leads."""
    taken = Passed(block_id, branch)
    following = plan.after(block_id, branch)
    if following is None:  # an action's "failed" branch left without an edge
        return [taken], Finish("failed", block_id, f"block {block_id!r} failed")
    passed, outcome = advance(plan, following, facts, seed)
    return [taken, *passed], outcome


def _instant_branch(plan: Plan, block: object, facts: Facts, seed: str) -> str:
    if isinstance(block, ConditionBlock):
        condition = plan.conditions[block.id]
        return "yes" if evaluate(condition, facts) else "no"
    if isinstance(block, Split):
        return split(block.weights, f"{seed}:{block.id}")
    if isinstance(block, Goal):
        return "next"
    raise AssertionError(f"not an instant block: {block!r}")  # pragma: no cover


def split(weights: dict[str, int], seed: str) -> str:
    """The branch ``seed`` falls on: the same for the same seed, each in proportion to its weight."""
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    point = int.from_bytes(digest[:8], "big") % sum(weights.values())
    for branch, weight in weights.items():
        if point < weight:
            return branch
        point -= weight
    raise AssertionError("unreachable")  # pragma: no cover
