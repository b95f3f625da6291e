"""The keeper's children: the ones whose exit status it needs, and the orphans it reaps.

The keeper is pid 1 of its tree, so every orphaned process of every world ends up its child and must be
reaped on SIGCHLD. Reaping with waitpid(-1) would also take the copies it starts (`cp` of a layer): their
exit status would be lost and `Popen` would report 0 for a copy that failed. So the reaper reaps every child
except the ones started here, which their owners wait for.
"""

import os
import signal
import subprocess

_OWNED = set()


def start(argv, **kwargs):
    """`subprocess.Popen(argv)` that the reaper leaves alone until `done(proc)`."""
    # SIGCHLD is held until the pid is registered: a copy that fails at once must not be reaped first.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        proc = subprocess.Popen(argv, **kwargs)
        _OWNED.add(proc.pid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return proc


def done(proc):
    """The owner has its exit status (`proc.poll()` was not None): the pid is anyone's again."""
    _OWNED.discard(proc.pid)


def reap(signum=None, frame=None):
    try:
        with open("/proc/self/task/%d/children" % os.getpid(), "rb") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    for pid in kids:
        if pid in _OWNED:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
