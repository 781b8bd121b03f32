"""Step types. The registry is explicit: a YAML ``type`` key maps to a class
listed here, never to a dotted path taken from the file."""
from __future__ import annotations

from agi.steps.answer import AnswerNode
from agi.steps.base import Node
from agi.steps.branch import BranchNode
from agi.steps.callback import CallbackNode
from agi.steps.consent import ConsentNode
from agi.steps.dial import DialNode
from agi.steps.exec_app import ExecNode
from agi.steps.goto import GotoNode
from agi.steps.hangup import HangupNode
from agi.steps.history import HistoryNode
from agi.steps.input_digits import InputNode
from agi.steps.lookup import LookupNode
from agi.steps.menu import MenuNode
from agi.steps.override import OverrideNode
from agi.steps.play import PlayNode
from agi.steps.priority import PriorityNode
from agi.steps.queue import QueueNode
from agi.steps.robinson import RobinsonNode
from agi.steps.schedule import ScheduleNode
from agi.steps.set_values import SetNode
from agi.steps.split import SplitNode
from agi.steps.supervise import SuperviseNode
from agi.steps.voicemail import VoicemailNode
from agi.steps.webhook import WebhookNode

REGISTRY: dict[str, type[Node]] = {
    cls.type_name: cls
    for cls in (AnswerNode, PlayNode, MenuNode, InputNode, SetNode, BranchNode, GotoNode,
                ExecNode, HangupNode,
                ConsentNode, PriorityNode, QueueNode, DialNode, VoicemailNode,
                RobinsonNode, LookupNode,
                CallbackNode, WebhookNode, SplitNode,
                ScheduleNode, HistoryNode, OverrideNode, SuperviseNode)
}
