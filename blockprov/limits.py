"""What untrusted input may cost: nesting depth, node count, bytes, bytes after decompression.

Every parser of outside data (user-data, vendor-data, meta-data, storagedata,
network config, a storage config file, the engine's request bodies) goes
through here, so one set of numbers holds everywhere (docs/security.md):

- nesting deeper than ``MAX_DEPTH`` is refused *before* a parser recurses into
  it (libyaml's composer recurses in C: 60,000 levels were a SIGSEGV);
- a YAML document whose aliases expand past ``MAX_NODES`` nodes is refused
  (722 bytes of aliases expanded to 2.6 GB when serialised);
- text over ``MAX_BYTES`` and decompressed data over its limit are refused, never
  truncated.

Refusals raise ``LimitError`` (a ``ValueError``) whose text names the source.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64  # collections inside collections; real configs stay under 12
MAX_NODES = 2_000_000  # scalars and collections, counted through aliases
MAX_BYTES = 16 << 20  # one document; and any one decompressed payload


class LimitError(ValueError):
    """Input over a limit: refused whole, never truncated."""


_PREFIX = re.compile(r"^[ \t?-]*", re.M)
_FLOW = re.compile(r"[\[{]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


_EMPTY_PAIR = re.compile(r"\{\}|\[\]")


def json_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The deepest nesting of JSON text (at most ``limit + 1``), from its brackets outside strings: each pass
    removes the innermost level everywhere, so a pass per level, each at regex speed (no parse, no recursion)."""
    skeleton = "".join(_BRACKETS.findall(_JSON_STRING.sub("", text)))
    depth = 0
    while skeleton and depth <= limit:
        skeleton, n = _EMPTY_PAIR.subn("", skeleton)
        if not n:  # unbalanced: json.loads will say where
            break
        depth += 1
    return depth


def _yaml_depth_bound(text: str) -> int:
    """An upper bound on a YAML document's nesting, from its text alone (never an under-estimate).

    A block collection nested in another starts at a greater column or, compactly, after a ``-``/``?`` on
    the same line; an indentless sequence shares its mapping's column. So two levels per column of a
    line's leading run of blanks and indicators, plus two, plus every flow bracket in the text.
    """
    widest = max((len(m) for m in _PREFIX.findall(text)), default=0)
    flow = len(_FLOW.findall(text)) if ("[" in text or "{" in text) else 0
    return 2 * (widest + 1) + 2 + flow


def _yaml_depth(text: str, loader, limit: int) -> int:
    """The real nesting, from the parser's event stream (libyaml's parser is a state machine: no recursion)."""
    import yaml

    depth = deepest = 0
    for ev in yaml.parse(text, Loader=loader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return deepest


def check_tree(obj, source: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> int:
    """Nodes of a parsed tree, aliases followed; LimitError past either limit (iterative: no recursion)."""
    n = 0
    stack = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        n += 1
        if n > max_nodes:
            raise LimitError(f"{source}: more than {max_nodes} nodes (YAML aliases expand too far)")
        if isinstance(o, dict):
            if d >= max_depth:
                raise LimitError(f"{source}: nested deeper than {max_depth} levels")
            stack.extend((k, d + 1) for k in o)
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            if d >= max_depth:
                raise LimitError(f"{source}: nested deeper than {max_depth} levels")
            stack.extend((v, d + 1) for v in o)
    return n


def non_string_key(obj, prefix: str = "$") -> str | None:
    """The JSON path and kind of the first mapping key that is not text (YAML reads ``1:``, ``true:``,
    ``2020-01-01:`` and ``null:`` as other types), or None. JSON-shaped documents have text keys only."""
    stack = [(obj, prefix)]
    while stack:
        o, p = stack.pop()
        if isinstance(o, dict):
            for k, v in o.items():
                if not isinstance(k, str):
                    return f"{p}: key {k!r} ({type(k).__name__}) is not text; quote it"
                stack.append((v, f"{p}.{k}"))
        elif isinstance(o, list):
            stack.extend((v, f"{p}[{i}]") for i, v in enumerate(o))
    return None


def check_size(data: str | bytes, source: str, limit: int = MAX_BYTES) -> None:
    if len(data) > limit:
        raise LimitError(f"{source}: {len(data)} bytes is over the {limit >> 20} MiB limit")


def load_yaml(text: str | bytes, source: str = "<input>"):
    """YAML (or JSON) text as data, within the limits. YAML syntax errors propagate as ``yaml.YAMLError``."""
    import yaml

    check_size(text, source)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace") if b"\0" not in text else text.decode("latin-1")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if _yaml_depth_bound(text) > MAX_DEPTH and _yaml_depth(text, loader, MAX_DEPTH) > MAX_DEPTH:
        raise LimitError(f"{source}: nested deeper than {MAX_DEPTH} levels")
    obj = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    if "*" in text:  # aliases: the tree may be far larger than the text
        check_tree(obj, source)
    return obj


def load_json(text: str | bytes, source: str = "<input>"):
    """JSON text as data, within the limits. Syntax errors propagate as ``ValueError`` (JSONDecodeError)."""
    import json

    check_size(text, source)
    probe = text if isinstance(text, str) else text.decode("latin-1")
    # checked on the text before parsing: JSON has no aliases, so its size bounds its nodes, and the depth
    # is in its brackets (a walk of the parsed tree cost a sixth of a 13,000-item plan)
    if len(_FLOW.findall(probe)) > MAX_DEPTH and json_depth(probe) > MAX_DEPTH:
        raise LimitError(f"{source}: nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except RecursionError:
        raise LimitError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None


def gunzip(data: bytes, source: str = "<input>", limit: int = MAX_BYTES) -> bytes:
    """gzip data inflated, refusing (not truncating) more than ``limit`` bytes of output."""
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"{source}: corrupt gzip data: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise LimitError(f"{source}: gzip data expands past {limit >> 20} MiB")
    return out
