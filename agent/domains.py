"""What the keeper knows of each world, snapshot and spare of its tree, and the small facts it reads about processes."""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A kill waits this long for worlds still being born from the killed one (they are born with its uid).
BIRTH_WAIT = 5.0
DEFERRED = object()  # a handler that will answer its request later
# A world making more refused identity or namespace changes than this is killed (it can only be probing).
MAX_REFUSED = 256


class Fault(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Domain:
    """One world, snapshot or spare: a uid, a layer, and (once born) its agent's pid."""

    __slots__ = ("id", "role", "uid", "token", "layer", "memory_mib", "disk_mib", "pid", "pidfd",
                 "ending", "refused", "registered", "mnt_ino", "home", "remount", "netns", "copying", "waiting")

    def __init__(self, birth, uid):
        self.id, self.role, self.token = birth["id"], birth["role"], birth["token"]
        self.memory_mib, self.disk_mib = birth.get("memoryMib") or 512, birth.get("diskMib")
        self.uid, self.layer = uid, birth["id"]
        self.pid = self.pidfd = self.mnt_ino = None
        self.ending = False
        self.refused = 0
        self.registered = 0
        self.home = None
        self.remount = False
        self.netns = False  # given a network namespace to join, not joined yet
        self.copying = None  # (request id, cp process, its pidfd) while its files are being copied
        self.waiting = None  # its setresuid() notification, answered once they are


def ticks_now():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK)


def proc_stat(pid):
    """(ppid, starttime in ticks) of a process in our pid namespace."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[19])


def wait_gone(pid, deadline):
    """Until `pid` is dead (a zombie counts as dead) or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            return
        if stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X"):
            return
        time.sleep(0.0002)
