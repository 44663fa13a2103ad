"""The engine's `EXPLAIN AST` text read back into a tree, or refused if it is not one.

What a shop owner's statement reads is decided from the engine's own parse of it (names
resolved from escapes and query parameters exactly as the engine will run them), not from
our lexing. The dump is one node per line, indented one space per level, e.g.

    SelectWithUnionQuery (children 1)
     ExpressionList (children 1)
      SelectQuery (children 2)
       ...
         TableIdentifier system.parts (alias p)

Reading it is strict: one root, and every node has exactly the children its
`(children N)` says. The engine prints identifiers raw, so a quoted name holding a line
break forges lines (the caller refuses such names, but does not rely on that): the engine
writes a node's child count last on its line and never indents a line of its own wrongly,
so with every count checked a forged line can only hang under a leaf. It never takes a
real node from its parent, and an extra node only makes the check refuse more. Any other
text (another output format) is MalformedAstDump.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_LINE = re.compile(r"(?P<indent> *)(?P<label>[A-Za-z][A-Za-z0-9_]*)(?P<rest>.*)")
_CHILDREN = re.compile(r" \(children (\d+)\)$")
_ALIAS = re.compile(r" \(alias .*\)$")


class MalformedAstDump(ValueError):
    """The text is not an `EXPLAIN AST` dump of one statement."""


@dataclass
class AstNode:
    """One AST node: its type, the text after it (a name, a literal) and its children."""

    label: str  # e.g. SelectQuery, TableIdentifier, Function, Identifier, Explain
    detail: str  # e.g. `system.parts`, `sum`, `EXPLAIN AST`; without alias or child count
    children: list[AstNode] = field(default_factory=list)

    def walk(self) -> Iterator[AstNode]:
        """This node and every node under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def parse_ast_dump(text: str) -> AstNode:
    """The tree of an `EXPLAIN AST` dump (TSVRaw); MalformedAstDump if it is not exactly one."""
    root: AstNode | None = None
    path: list[AstNode] = []  # the nodes from the root down to the previous line's node
    declared: list[tuple[AstNode, int]] = []
    for line in text.split("\n"):  # only \n: str.splitlines() would also split on U+2028
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise MalformedAstDump(f"not an AST line: {line[:80]!r}")
        depth = len(match.group("indent"))
        if depth > len(path) or (depth == 0 and root is not None):
            raise MalformedAstDump(f"misplaced AST line: {line[:80]!r}")
        rest = match.group("rest")
        children = _CHILDREN.search(rest)
        if children is not None:
            rest = rest[: children.start()]
        node = AstNode(match.group("label"), _ALIAS.sub("", rest).strip())
        declared.append((node, int(children.group(1)) if children else 0))
        del path[depth:]
        if path:
            path[-1].children.append(node)
        else:
            root = node
        path.append(node)
    if root is None:
        raise MalformedAstDump("empty AST dump")
    for node, count in declared:
        if len(node.children) != count:
            raise MalformedAstDump(f"{node.label} {node.detail} has {len(node.children)} "
                                   f"children, not {count}")  # fmt: skip
    return root
