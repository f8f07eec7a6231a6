"""A checked definition compiled for running: blocks by id, where each branch leads, and every
condition and path parsed once. What the engine keeps per workflow version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from footfall.workflows.conditions import Condition, happened_types, parse_condition
from footfall.workflows.definitions import Definition
from footfall.workflows.document import AnyBlock, ConditionBlock, Goal, WaitEvent
from footfall.workflows.graph import START
from footfall.workflows.paths import Path, parse_path

__all__ = ["Plan", "compile_plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    definition: Definition
    blocks: dict[str, AnyBlock]
    leads: dict[tuple[str, str], str]  # (block id or "start", branch) → the next block's id
    start_when: Condition | None
    match_path: Path | None  # stop.matchParam, read in the starting event
    stop_path: Path | None  # where stop events hold it (stopParam, else matchParam)
    conditions: dict[str, Condition] = field(default_factory=dict)  # by block id
    block_paths: dict[str, Path] = field(default_factory=dict)  # matchParam of waits and goals
    happened: frozenset[str] = frozenset()  # event types condition blocks ask about

    @property
    def first(self) -> str:
        return self.leads[(START, "next")]

    def after(self, block_id: str, branch: str) -> str | None:
        """The block ``branch`` of ``block_id`` leads to (None: the branch has no edge)."""
        return self.leads.get((block_id, branch))

    @property
    def stop_events(self) -> frozenset[str]:
        stop = self.definition.document.stop
        return frozenset(stop.events) if stop is not None else frozenset()


def compile_plan(definition: Definition) -> Plan:
    document = definition.document
    stop = document.stop
    match = stop.match_param if stop is not None else None
    stop_side = (stop.stop_param or stop.match_param) if stop is not None else None
    conditions: dict[str, Condition] = {}
    block_paths: dict[str, Path] = {}
    for index, block in enumerate(document.blocks):
        at = f"blocks[{index}]"
        when: Any = getattr(block, "when", None)
        if isinstance(block, ConditionBlock | WaitEvent | Goal) and when is not None:
            since = isinstance(block, ConditionBlock)
            conditions[block.id] = parse_condition(when, f"{at}.when", since_start=since)
        if isinstance(block, WaitEvent | Goal) and block.match_param is not None:
            block_paths[block.id] = parse_path(block.match_param, f"{at}.matchParam")
    return Plan(
        definition=definition,
        blocks={block.id: block for block in document.blocks},
        leads={(edge.from_, edge.on): edge.to for edge in document.edges},
        start_when=(
            None
            if document.start.when is None
            else parse_condition(document.start.when, "start.when")
        ),
        match_path=None if match is None else parse_path(match, "stop.matchParam"),
        stop_path=None if stop_side is None else parse_path(stop_side, "stop.stopParam"),
        conditions=conditions,
        block_paths=block_paths,
        happened=frozenset().union(*(happened_types(c) for c in conditions.values())),
    )
