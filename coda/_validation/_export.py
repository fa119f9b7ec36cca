"""Checks of graphs written to files: names, attributes and values the formats hold.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Characters XML 1.0 does not allow in a document: controls other than tab,
# line feed and carriage return, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_distinct_names(G, writer: str) -> None:
    """Raise ValueError if two nodes would be written under the same name (``str(node)``)."""
    seen: dict = {}
    for node in G:
        other = seen.setdefault(str(node), node)
        if other is not node:
            raise ValueError(
                f"G has the nodes {other!r} and {node!r}, which {writer} would both write as "
                f"{str(node)!r}, merging them; relabel the nodes first so that their names "
                "differ as text, e.g. with networkx.relabel_nodes"
            )


def check_reserved_attributes(
    G, writer: str, *, node_keys: Sequence[str], edge_keys: Sequence[str]
) -> None:
    """Raise ValueError if an attribute has a name that ``writer`` gives a node or an edge.

    networkx's node-link format writes each node's name under ``id`` and each
    edge's ends under ``source`` and ``target`` (a multigraph's edge key under
    ``key``), and an edge list has columns of those names: an attribute of
    the same name would be overwritten, or would overwrite them.
    """
    for node, data in G.nodes(data=True):
        taken = [k for k in node_keys if k in data]
        if taken:
            raise ValueError(
                f"node {node!r} has the attribute {taken[0]!r}, the name {writer} gives the "
                "node's own name, so its value would be lost; rename the attribute first"
            )
    for a, b, data in G.edges(data=True):
        taken = [k for k in edge_keys if k in data]
        if taken:
            raise ValueError(
                f"edge ({a!r}, {b!r}) has the attribute {taken[0]!r}, a name {writer} gives "
                "the edge itself, so its value would be lost; rename the attribute first"
            )


def python_value(value):
    """A numpy scalar as the Python value the file writers check; anything else as it is.

    ``.item()``, not a conversion to text: a numpy complex or bytes stays what
    it is, for the writer to refuse. A datetime64 or timedelta64 is left a
    numpy scalar, refused too: at nanosecond resolution (pandas' default)
    ``.item()`` gives a bare integer, which would be written as one.
    """
    if isinstance(value, np.generic) and not isinstance(value, (np.datetime64, np.timedelta64)):
        return value.item()
    return value


def check_graphml_value(value, key, where: str):
    """``value`` as the Python scalar GraphML stores; TypeError naming it otherwise."""
    value = python_value(value)
    check_xml_text(str(key), f"the name of an attribute of {where}")
    if isinstance(value, str):
        check_xml_text(value, f"the attribute {key!r} of {where}")
    if isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"the attribute {key!r} of {where} is a {type(value).__name__} ({value!r}); GraphML "
        "holds only str, int, float and bool values: convert it (e.g. to str) or remove it "
        "before writing"
    )


def check_xml_text(text: str, what: str) -> None:
    """Raise ValueError if ``text`` holds a character an XML 1.0 file cannot hold.

    networkx's GraphML writer writes such characters as they are, and the
    file it leaves cannot be read back (not well-formed XML).
    """
    found = _NOT_XML.search(text)
    if found is not None:
        raise ValueError(
            f"{what} ({text!r}) holds the character U+{ord(found.group()):04X}, which an XML "
            "file such as GraphML cannot hold; remove or replace it before writing (or "
            "write the graph with write_json or write_edge_list)"
        )
