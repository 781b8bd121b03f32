"""Safe YAML with line numbers on every mapping, list and key.

- Duplicate keys are errors (PyYAML silently keeps the last one).
- Mapping keys are always the text as written: ``1:`` is the DTMF key "1",
  ``01:`` stays "01".
- YAML 1.1 ``on/off/yes/no`` stay strings, so ``on:`` is a key, not True.
- A date or time the calendar has not (``2025-13-45``) and a number that
  is not finite (``.inf``, ``.nan``) are errors at their line.
- Aliases may repeat at most ``MAX_ALIASED_VALUES`` values in all: a few
  hundred bytes of nested aliases ("billion laughs") would otherwise stand
  for a billion values that every later check walks.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import yaml

from agi.safe_text import escaped_text


@dataclass(frozen=True, order=True)
class SourceError:
    """One problem in a file, printed as ``file:line: message``, in one
    line with what is not printable written escaped (``\\x1b``): a file
    name, or the target of a link, may be an escape sequence."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return escaped_text(f"{self.file}:{self.line}: {self.message}")


class MarkedMap(dict[str, Any]):
    """A mapping that remembers where it and each of its keys stand."""

    line: int = 0
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A list that remembers where it and each of its items stand."""

    line: int = 0
    item_lines: list[int]


class DocumentError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


#: Values that aliases may repeat in one document, counted as written out.
MAX_ALIASED_VALUES = 10_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts the values each node stands for once its
    aliases are written out, and refuses a document whose aliases repeat
    more than MAX_ALIASED_VALUES of them, at the alias that goes past."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._aliased = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            self._aliased += self._sizes.get(id(node), 1)  # unknown: inside its own anchor
            if self._aliased > MAX_ALIASED_VALUES:
                raise DocumentError(line, f"aliases repeat more than {MAX_ALIASED_VALUES} values; "
                                          "write the values out or use fewer aliases")
            return node
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in children)
        return node


# Booleans: only true/false (YAML 1.2), never yes/no/on/off. Numbers: decimal
# only, as YAML 1.2 and JSON write them. YAML 1.1 read a leading 0 as octal,
# and ``:`` as base 60: ``prefix: 0034`` was 28 and ``12:30`` was 750. Such a
# value (a dialling prefix, a number with its leading zero, a time) is text as
# written, as keys are; ``0x1F`` and ``1_000`` are text too.
_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)\.[0-9]*(?:[eE][-+][0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+][0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedMap:
    """A MarkedMap; a key written twice is an error, while a key written
    over one that a merge key (``<<: *defaults``) brought in replaces it,
    as YAML's merge keys mean."""
    written = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    first_written = len(node.value) - written  # flatten_mapping puts the merged pairs first
    result = MarkedMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    merged: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        if not isinstance(key_node, yaml.ScalarNode):
            raise DocumentError(key_node.start_mark.line + 1, "mapping keys must be plain text")
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key in result and key not in merged:
            raise DocumentError(line, f"duplicate key '{key}' (first at line {result.key_lines[key]})")
        if index < first_written:
            merged.add(key)
        else:
            merged.discard(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        return int(loader.construct_yaml_int(node))
    except ValueError:  # Python's int() reads at most 4,300 digits
        raise DocumentError(node.start_mark.line + 1, "number with too many digits") from None


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    """A YAML number with a point; ``.inf`` and ``.nan`` are errors at
    their line, since no setting, step option or test input means them."""
    value = float(loader.construct_yaml_float(node))
    if not math.isfinite(value):
        raise DocumentError(node.start_mark.line + 1, f"'{node.value}' is not a finite number; write a number "
                                                      f"such as 1.5, or quote it if it is text")
    return value


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A YAML date or time; one the calendar has not (month 13, year 0, an
    offset of a day or more) is an error at its line, not a crash."""
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError) as exc:
        reason = "its UTC offset must be less than 24 hours" if "offset" in str(exc) else str(exc)
        raise DocumentError(node.start_mark.line + 1, f"'{node.value}' is not a valid date and time: {reason}") \
            from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str) -> Any:
    """Parse one YAML document; raise DocumentError with a 1-based line."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        return loader.get_single_data()
    except DocumentError:
        raise
    except RecursionError:  # PyYAML reads nested lists and mappings recursively
        raise DocumentError(loader.line + 1 if loader else 1, "invalid YAML: nested too deeply") from None
    except yaml.reader.ReaderError as exc:  # a NUL or another control character; no mark, two lines
        line = text.count("\n", 0, exc.position) + 1
        raise DocumentError(line, f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}") \
            from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise DocumentError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(1, f"invalid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def line_of(document: Any, path: Iterable[Any]) -> int:
    """The line of the deepest node along ``path`` (keys and list indexes)."""
    node = document
    line = getattr(document, "line", 1) or 1
    for part in path:
        if isinstance(node, MarkedMap) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
