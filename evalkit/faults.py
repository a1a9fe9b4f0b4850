"""Fault injection for the durability tests: ``EVALKIT_FAULT=commit:3`` kills the process
(SIGKILL, no clean-up, like a power cut) the 3rd time it reaches the point named ``commit``.

Points: ``batch`` (after a batch's forward pass, before its shard is committed), ``commit``
(a shard file written and flushed, not yet renamed into place), ``shard`` (right after a
commit). With ``EVALKIT_FAULT_ONCE=FILE`` only the first process to reach the point dies (it
creates FILE); a process that finds FILE carries on (Ray tests: one worker dies, its restart
lives). Unset (always, outside tests), it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_REACHED: Counter[str] = Counter()


def fault_point(name: str) -> None:
    wanted = os.environ.get("EVALKIT_FAULT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _REACHED[name] += 1
    if _REACHED[name] < int(count or 1):
        return
    once = os.environ.get("EVALKIT_FAULT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
