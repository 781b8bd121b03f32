"""Small flows several test files run: a call that is answered and greeted,
and a menu whose options, choices, transitions and steps a test can add to."""
from __future__ import annotations

import textwrap

ANSWER_FLOW = """\
version: 1
name: answer
start: answer
steps:
  answer:
    answer:
    next: greet
  greet:
    play: hello-world
"""

#: A callback offer that stores the request for the support queue.
CALLBACK_FLOW = """\
version: 1
name: cb
start: callback
steps:
  callback:
    callback:
      offer: cb-offer
      number_is: cb-number-is
      confirm: cb-confirm
      enter: cb-enter
      thanks: cb-thanks
      invalid_prompt: cb-invalid
      retries: 1
      queue: support
      reason: "missed {{ call.called }}"
    on: {requested: bye, declined: bye, invalid: bye}
  bye:
    hangup:
"""

MENU = """\
version: 1
name: menu
start: menu
steps:
  menu:
    menu:
      prompt: main-menu
      choices: {{"1": sales, "2": support{extra_choices}}}
{options}
    on: {{timeout: operator, invalid: operator{extra_on}}}
  sales:
    play: sales
  support:
    play: support
  operator:
    play: operator
{extra_steps}"""


def menu_flow(options: str = "", extra_choices: str = "", extra_on: str = "", extra_steps: str = "") -> str:
    lines = "".join(f"      {line}\n" for line in textwrap.dedent(options).splitlines() if line)
    return MENU.format(options=lines.rstrip("\n"), extra_choices=extra_choices, extra_on=extra_on,
                       extra_steps=extra_steps)
