"""Map a position inside a YAML string value back to the file's line and column.

A condition error knows its line and column within the condition text; the analyst needs them in
the rule-set file. YAML writes the same text in several ways (plain, quoted, ``|`` blocks, folded
lines), so rather than re-implement each style this aligns the value with its source span: each
character of the value is found, in order, in the source slice (quotes, indentation and folding
are skipped). Exact for plain, quoted and ``|`` values; for escapes inside quotes it stays close.
Only run when there is an error to report.
"""

from __future__ import annotations

import yaml

__all__ = ["value_position"]


def _node_at(root: yaml.Node | None, path: tuple[str | int, ...]) -> yaml.Node | None:
    node = root
    for step in path:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return None
    return node


def value_position(text: str, path: tuple[str | int, ...], line: int, column: int) -> tuple[int, int] | None:
    """(line, column), 1-based in ``text``, of (line, column) within the string value at ``path``."""
    try:
        node = _node_at(yaml.compose(text, Loader=yaml.SafeLoader), path)
    except yaml.YAMLError:
        return None
    if not isinstance(node, yaml.ScalarNode):
        return None
    value = str(node.value)
    value_lines = value.split("\n")
    line = min(max(line, 1), len(value_lines))
    offset = sum(len(v) + 1 for v in value_lines[: line - 1]) + column - 1
    start, end = node.start_mark.index, node.end_mark.index
    source = text[start:end]
    j, found = 0, start
    for i, ch in enumerate(value):
        k = source.find(ch, j)
        if k < 0:
            break
        if i == offset:
            found = start + k
            break
        j = k + 1
        found = start + k + 1  # just past the last aligned character (an offset at the very end)
    before = text[:found]
    file_line = before.count("\n") + 1
    file_column = found - (before.rfind("\n") + 1) + 1
    return file_line, file_column
