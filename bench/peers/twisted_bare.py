"""The ceiling: a bare Twisted FastAGI server that sends the reference call's
commands with no logic at all.

It reads the environment up to the blank line (keeping only the uniqueid),
then writes the next command of a fixed list each time a final reply line
(``NNN ...``) arrives, ignoring ``HANGUP`` and ``NNN-`` lines, and closes
after the last reply. No flow, no parsing of results, no CDR, no log: what
any FastAGI server on Twisted costs at the least.

    PYTHONPATH=. .venv/bin/python bench/peers/twisted_bare.py --port P
"""
from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver

from listen import port_from_arguments

COMMANDS = [
    b"ANSWER",
    b'STREAM FILE "agiflow/welcome" ""',
    b'EXEC "MixMonitor" "%s.wav,b"',
    b'GET DATA "agiflow/main-menu" "5000" "1"',
    b'SET VARIABLE "CDR(department)" "support"',
    b'SET VARIABLE "QUEUE_PRIO" "10"',
    b'SET VARIABLE "QUEUESTATUS" ""',
    b'SET VARIABLE "ABANDONED" ""',
    b'SET VARIABLE "QEHOLDTIME" ""',
    b'EXEC "Queue" "support,t,,,300"',
    b'GET VARIABLE "QUEUESTATUS"',
    b"HANGUP",
    b'SET VARIABLE "AGIFLOW_STATUS" "completed"',
]


class BareAGI(LineOnlyReceiver):
    delimiter = b"\n"

    def connectionMade(self) -> None:
        self.in_environment = True
        self.uniqueid = b""
        self.next = 0

    def lineReceived(self, line: bytes) -> None:
        if self.in_environment:
            if line.startswith(b"agi_uniqueid: "):
                self.uniqueid = line[14:]
            elif not line:
                self.in_environment = False
                self.send()
            return
        if len(line) > 3 and line[3:4] == b" " and line[:3].isdigit() and line[:3] != b"100":
            self.send()

    def send(self) -> None:
        if self.next == len(COMMANDS):
            self.transport.loseConnection()
            return
        command = COMMANDS[self.next]
        self.next += 1
        if b"%s" in command:
            command = command % self.uniqueid
        self.transport.write(command + b"\n")


def main() -> None:
    port = port_from_arguments()
    factory = Factory.forProtocol(BareAGI)
    factory.noisy = False
    reactor.listenTCP(port, factory, interface="127.0.0.1")
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
