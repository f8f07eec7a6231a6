"""A workflow document's graph: "start" and the blocks, joined by edges from a branch to a block."""

from __future__ import annotations

from collections.abc import Iterator

from footfall.exceptions import InvalidWorkflow
from footfall.workflows.document import BRANCHES, OPTIONAL_BRANCHES, Block, Document, Edge, Split

__all__ = ["START", "branches", "check_graph"]

START = "start"


def branches(block: Block) -> tuple[str, ...]:
    """The names of ``block``'s outgoing branches."""
    if isinstance(block, Split):
        return tuple(block.weights)
    return BRANCHES[type(block)]


def check_graph(document: Document) -> None:
    """InvalidWorkflow unless block ids are unique, every edge joins a block's branch to a
    block, every branch but ``failed`` has its edge, every block is reached from the start and
    no path comes back to a block it passed."""
    where = {block.id: index for index, block in enumerate(document.blocks)}
    for block_id, index in where.items():
        duplicate = next(i for i, b in enumerate(document.blocks) if b.id == block_id)
        if duplicate != index:
            raise InvalidWorkflow(
                f'block id "{block_id}" is used by blocks[{duplicate}] and blocks[{index}]',
                field=f"blocks[{index}].id",
            )
    targets = _check_edges(document, where)
    _check_covered(document, targets)
    _check_reachable(document, targets, where)
    _check_acyclic(document, targets)


def _check_edges(document: Document, where: dict[str, int]) -> dict[tuple[str, str], int]:
    """Each (from, branch) → the index of its edge, every edge checked."""
    seen: dict[tuple[str, str], int] = {}
    for index, edge in enumerate(document.edges):
        at = f"edges[{index}]"
        if edge.from_ != START and edge.from_ not in where:
            raise InvalidWorkflow(
                f'{at}.from: no block "{edge.from_[:70]}" (nor "start")', field=f"{at}.from"
            )
        if edge.to not in where:
            raise InvalidWorkflow(f'{at}.to: no block "{edge.to[:70]}"', field=f"{at}.to")
        allowed = ("next",) if edge.from_ == START else branches(_block(document, where, edge))
        if edge.on not in allowed:
            shown = ", ".join(allowed) if allowed else "none (it ends the run)"
            raise InvalidWorkflow(
                f'{at}.on: "{edge.from_}" has no branch "{edge.on[:70]}"; its branches: {shown}',
                field=f"{at}.on",
            )
        if (edge.from_, edge.on) in seen:
            raise InvalidWorkflow(
                f'{at}: branch "{edge.on}" of "{edge.from_}" already leads somewhere '
                f"(edges[{seen[(edge.from_, edge.on)]}])",
                field=at,
            )
        seen[(edge.from_, edge.on)] = index
    return seen


def _block(document: Document, where: dict[str, int], edge: Edge) -> Block:
    return document.blocks[where[edge.from_]]


def _check_covered(document: Document, targets: dict[tuple[str, str], int]) -> None:
    if (START, "next") not in targets:
        raise InvalidWorkflow(
            'no edge from "start": add {"from": "start", "to": "<first block>"}', field="edges"
        )
    for index, block in enumerate(document.blocks):
        for branch in branches(block):
            if branch not in OPTIONAL_BRANCHES and (block.id, branch) not in targets:
                raise InvalidWorkflow(
                    f'block "{block.id}" has no edge for its branch "{branch}": add '
                    f'{{"from": "{block.id}", "on": "{branch}", "to": …}}',
                    field=f"blocks[{index}]",
                )


def _next(document: Document, targets: dict[tuple[str, str], int], node: str) -> Iterator[str]:
    for (source, _branch), index in targets.items():
        if source == node:
            yield document.edges[index].to


def _check_reachable(
    document: Document, targets: dict[tuple[str, str], int], where: dict[str, int]
) -> None:
    reached, waiting = {START}, [START]
    while waiting:
        for target in _next(document, targets, waiting.pop()):
            if target not in reached:
                reached.add(target)
                waiting.append(target)
    for block_id, index in where.items():
        if block_id not in reached:
            raise InvalidWorkflow(
                f'block "{block_id}" cannot be reached from the start', field=f"blocks[{index}]"
            )


def _check_acyclic(document: Document, targets: dict[tuple[str, str], int]) -> None:
    """No loops: a run passes each block at most once, so its steps are bounded by the blocks.
    A depth-first walk from the start; an edge back to a block still on the walk closes a loop."""
    leaving: dict[str, list[int]] = {}
    for (source, _branch), index in targets.items():
        leaving.setdefault(source, []).append(index)
    on_walk: set[str] = {START}
    done: set[str] = set()
    walk = [(START, iter(leaving.get(START, [])))]
    while walk:
        node, edges = walk[-1]
        following = next(edges, None)
        if following is None:
            on_walk.discard(node)
            done.add(node)
            walk.pop()
            continue
        target = document.edges[following].to
        if target in on_walk:
            raise InvalidWorkflow(
                f'edges[{following}] from "{node}" to "{target}" closes a loop; a workflow '
                "may not return to a block it has passed",
                field=f"edges[{following}]",
            )
        if target not in done:
            on_walk.add(target)
            walk.append((target, iter(leaving.get(target, []))))
