"""Lease holders: a process that is gone is recognised as such, and nothing else is."""

from __future__ import annotations

import subprocess

from dockyard.registry.holders import current_holder, holder_is_dead


def _holder_of(pid: int) -> str:
    """The holder string process `pid` would record (it runs in our namespace)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        started = f.read().rsplit(b")", 1)[1].split()[19].decode()
    namespace, _, _, host = current_holder().split(" ", 3)
    return f"{namespace} {pid} {started} {host}"


def test_a_holder_is_dead_once_its_process_is_gone() -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        holder = _holder_of(child.pid)
        assert not holder_is_dead(holder)
    finally:
        child.kill()
        child.wait()
    assert holder_is_dead(holder)


def test_only_certain_deaths_count() -> None:
    me = current_holder()
    namespace, pid, started, host = me.split(" ", 3)
    assert not holder_is_dead(me)
    assert not holder_is_dead(None) and not holder_is_dead("")
    # a reused pid: same number, later start time
    assert holder_is_dead(f"{namespace} {pid} {int(started) - 1} {host}")
    # another host or pid namespace cannot be judged from here: its lease decides
    assert not holder_is_dead(f"other-boot/4026531836 {pid} {int(started) - 1} {host}")
    assert not holder_is_dead(f"- {pid} 1 {host}")
    assert not holder_is_dead("garbage")
