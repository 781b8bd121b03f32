"""A flow as a diagram: Mermaid (renders on GitHub/GitLab) or Graphviz dot."""
from __future__ import annotations

from agi.engine.model import Flow
from agi.steps.base import node_of

END = "__end__"


def _edges(flow: Flow) -> list[tuple[str, str, str]]:
    """(from, outcome, to) for every transition; flow ends go to END."""
    edges = []
    for step in flow.steps.values():
        for outcome, target in step.transitions.items():
            edges.append((step.name, outcome, target))
        node = node_of(step)
        for target in node.flow_references():
            edges.append((step.name, "goto", f"flow:{target}"))
        if node.ends_flow() and not node.flow_references():
            edges.append((step.name, "end", END))
    return edges


def _node_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f'  start(("{flow.name}")) --> {_node_id(flow.start)}']
    for step in flow.steps.values():
        lines.append(f'  {_node_id(step.name)}["{step.name}<br/><i>{step.type_name}</i>"]')
    for source, outcome, target in _edges(flow):
        if target == END:
            lines.append(f"  {_node_id(source)} --> {_node_id(END)}((end))")
        elif target.startswith("flow:"):
            lines.append(f'  {_node_id(source)} -->|goto| {_node_id(target)}[["{target}"]]')
        else:
            lines.append(f'  {_node_id(source)} -->|"{outcome}"| {_node_id(target)}')
    return "\n".join(lines) + "\n"


def dot(flow: Flow) -> str:
    lines = [f'digraph "{flow.name}" {{', "  rankdir=TB;", '  node [shape=box, fontname="sans-serif"];',
             '  "__start__" [shape=circle, label="start"];', f'  "__start__" -> "{flow.start}";']
    for step in flow.steps.values():
        lines.append(f'  "{step.name}" [label="{step.name}\\n({step.type_name})"];')
    for source, outcome, target in _edges(flow):
        if target == END:
            lines.append(f'  "{END}" [shape=doublecircle, label="end"];')
        elif target.startswith("flow:"):
            lines.append(f'  "{target}" [shape=component];')
        lines.append(f'  "{source}" -> "{target}" [label="{outcome}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
