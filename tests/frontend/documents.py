"""The dashboard's GraphQL documents (`operations/`), bundled as a client bundler does.

Every `.graphql` file is one screen; `fragments.graphql` holds fragments shared between
screens. Fragment and operation names are global, as codegen makes them. A screen's
document is its own definitions plus the fragments they spread, transitively; an
operation's request is the operation plus the fragments it spreads — never a fragment it
does not use, which the server (like any GraphQL server) would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from graphql import (
    DefinitionNode,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    Visitor,
    build_schema,
    parse,
    print_ast,
    visit,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schema.graphql"
OPERATIONS_DIR = Path(__file__).resolve().parent / "operations"
FRAGMENTS_FILE = "fragments.graphql"


@dataclass(frozen=True)
class Documents:
    files: dict[str, DocumentNode]
    fragments: dict[str, FragmentDefinitionNode]
    operations: dict[str, OperationDefinitionNode]
    screen_of: dict[str, str]  # operation name -> file name

    def screens(self) -> list[str]:
        return sorted(name for name in self.files if name != FRAGMENTS_FILE)

    def bundle(self, file: str) -> DocumentNode:
        """A screen's definitions and every fragment they need from elsewhere."""
        own = list(self.files[file].definitions)
        defined = {d.name.value for d in own if isinstance(d, FragmentDefinitionNode)}
        needed = [name for name in self.needed(own) if name not in defined]
        return DocumentNode(definitions=(*own, *(self.fragments[name] for name in needed)))

    def request(self, operation: str) -> str:
        """The text a client sends for one operation."""
        node = self.operations[operation]
        fragments = [self.fragments[name] for name in self.needed([node])]
        return print_ast(DocumentNode(definitions=(node, *fragments)))

    def needed(self, definitions: Iterable[DefinitionNode]) -> list[str]:
        """The fragments spread by `definitions`, transitively, in the order first met."""
        found: list[str] = []
        pending = list(definitions)
        while pending:
            for name in spreads(pending.pop(0)):
                if name not in found and name in self.fragments:
                    found.append(name)
                    pending.append(self.fragments[name])
        return found


def spreads(node: Node) -> list[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    return names


def load(directory: Path = OPERATIONS_DIR) -> Documents:
    """Every document of `directory`, parsed; a name defined twice is an error."""
    files: dict[str, DocumentNode] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    operations: dict[str, OperationDefinitionNode] = {}
    screen_of: dict[str, str] = {}
    for path in sorted(directory.glob("*.graphql")):
        document = parse(path.read_text(), no_location=False)
        files[path.name] = document
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                assert name not in fragments, f"fragment {name} defined twice ({path.name})"
                fragments[name] = definition
            elif isinstance(definition, OperationDefinitionNode):
                assert definition.name is not None, f"an anonymous operation in {path.name}"
                name = definition.name.value
                assert name not in operations, f"operation {name} defined twice ({path.name})"
                operations[name] = definition
                screen_of[name] = path.name
    return Documents(files, fragments, operations, screen_of)


@cache
def documents() -> Documents:
    return load()


def schema(text: str | None = None) -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text() if text is None else text)
