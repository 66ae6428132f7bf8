"""Steering a live run: the inbox `agentnas chat` writes and the loop reads."""

from agentnas.steering.inbox import INBOX, read_inbox, run_holder, send

__all__ = ["INBOX", "read_inbox", "run_holder", "send"]
