"""Who holds an upload's lease, and whether that holder is known to be dead.

A lease names its holder: the process, and the process-id namespace of the kernel
boot it runs in. Another process in the same namespace can tell for sure whether
the holder still runs (its pid exists and started at the recorded time, so a reused
pid does not pass for it), and takes the lease over at once when it does not: an
upload interrupted by a crash resumes right after the restart. A holder elsewhere
(another host, pod or container) cannot be judged that way; its lease is short and
renewed while the request streams, so it lapses soon after the holder stops.
"""

from __future__ import annotations

import functools
import os
import socket

_UNKNOWN = "-"


@functools.cache
def _namespace() -> str:
    """This kernel boot and pid namespace ('-' where /proc does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        pid_ns = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return _UNKNOWN
    return f"{boot}/{pid_ns}"


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from its end
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


@functools.cache
def _current(pid: int) -> str:
    started = _started(pid) or _UNKNOWN
    return f"{_namespace()} {pid} {started} {socket.gethostname()[:64]}"


def current_holder() -> str:
    """This process, as a lease records it."""
    return _current(os.getpid())  # keyed by pid: a forked worker is a holder of its own


def holder_is_dead(holder: str | None) -> bool:
    """True only when `holder` is certainly gone: same namespace, and its process no
    longer runs (or a later one has its pid)."""
    if not holder:
        return False
    parts = holder.split(" ")
    if len(parts) < 3 or parts[0] == _UNKNOWN or parts[0] != _namespace():
        return False
    pid_text, started = parts[1], parts[2]
    if not pid_text.isdigit() or started == _UNKNOWN:
        return False
    return _started(int(pid_text)) != started
