"""Step types. The registry is explicit: a YAML ``type`` key maps to a class
listed here, never to a dotted path taken from the file."""
from __future__ import annotations

from agi.nodes.answer import AnswerNode
from agi.nodes.base import Node
from agi.nodes.branch import BranchNode
from agi.nodes.callback import CallbackNode
from agi.nodes.consent import ConsentNode
from agi.nodes.dial import DialNode
from agi.nodes.exec_app import ExecNode
from agi.nodes.goto import GotoNode
from agi.nodes.hangup import HangupNode
from agi.nodes.input_digits import InputNode
from agi.nodes.lookup import LookupNode
from agi.nodes.menu import MenuNode
from agi.nodes.play import PlayNode
from agi.nodes.priority import PriorityNode
from agi.nodes.queue import QueueNode
from agi.nodes.robinson import RobinsonNode
from agi.nodes.schedule import ScheduleNode
from agi.nodes.set_values import SetNode
from agi.nodes.split import SplitNode
from agi.nodes.voicemail import VoicemailNode
from agi.nodes.webhook import WebhookNode

REGISTRY: dict[str, type[Node]] = {
    cls.type_name: cls
    for cls in (AnswerNode, PlayNode, MenuNode, InputNode, SetNode, BranchNode, GotoNode,
                ExecNode, HangupNode,
                ConsentNode, PriorityNode, QueueNode, DialNode, VoicemailNode,
                RobinsonNode, LookupNode,
                CallbackNode, WebhookNode, SplitNode,
                ScheduleNode)
}
