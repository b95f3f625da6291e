"""Running code and commands inside a world: shared by the process driver's agent (agent/agent.py) and the
microvm guest agent (agent/guest/agent.py), so both give the same results for the same request.

Stdlib only, and only cheap modules at import time: every module loaded here is paid for by each cold
start and its pages may be copied by every fork.
"""

import _ast
import io
import os
import signal
import sys
import time

OUTPUT_CAP = 1 << 20  # bytes of stdout+stderr kept per exec/run; the rest is cut and flagged


class SpawnError(Exception):
    """A command that could not be started at all."""


class OutsideError(ValueError):
    """A path that is empty or leads out of the world's directory."""


def inside(home, path):
    """`path` resolved within `home` (symlinks followed); anything that escapes it is refused."""
    if not isinstance(path, str) or path == "" or "\0" in path:
        raise OutsideError("path must be a non-empty string without NUL bytes")
    full = os.path.realpath(os.path.join(home, path))
    if full != home and not full.startswith(home + os.sep):
        raise OutsideError("path %r is outside the world's files (%s)" % (path, home))
    return full


class Budget:
    """The output cap, shared by stdout and stderr of one request."""

    def __init__(self, cap=OUTPUT_CAP):
        self.left = cap
        self.truncated = False

    def take(self, s):
        if self.left <= 0:
            if s:
                self.truncated = True
            return ""
        b = s.encode("utf-8", "replace")
        if len(b) <= self.left:
            self.left -= len(b)
            return s
        self.truncated = True
        cut = b[: self.left].decode("utf-8", "ignore")
        self.left = 0
        return cut


class Capture(io.TextIOBase):
    """sys.stdout/sys.stderr during an exec: keeps what the budget allows, optionally streams chunks."""

    def __init__(self, name, budget, send):
        self.stream_name = name
        self.parts = []
        self.budget = budget
        self.send = send

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        kept = self.budget.take(s)
        if kept:
            self.parts.append(kept)
            if self.send is not None:
                self.send(self.stream_name, kept)
        return len(s)

    def text(self):
        return "".join(self.parts)


class FdCapture:
    """Output written straight to fd 1/2 (os.system, C code) during an exec lands in memfds, read back after.

    The memfds belong to one process: a forked copy makes its own on first use.
    """

    def __init__(self):
        self.owner = None

    def begin(self):
        if self.owner != os.getpid():
            self.owner = os.getpid()
            self.fds = (os.memfd_create("out"), os.memfd_create("err"))
        for fd in self.fds:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, 0)
        saved = (os.dup(1), os.dup(2))
        os.dup2(self.fds[0], 1)
        os.dup2(self.fds[1], 2)
        return saved

    def end(self, saved, budget):
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        texts = []
        for fd in self.fds:
            os.lseek(fd, 0, 0)
            data = os.read(fd, budget.left + 1) if budget.left > 0 else b""
            if os.fstat(fd).st_size > len(data):
                budget.truncated = True
            texts.append(budget.take(data.decode("utf-8", "replace")))
        return texts[0], texts[1]


def format_user_traceback(e):
    """The traceback from the user's first frame on: the agents' own frames are hidden."""
    import traceback

    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<exec>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


class _Flag:
    executing = False


def execute(code, g, fd_capture, send=None, flag=None):
    """Run `code` in globals `g` like a notebook cell: the repr of a trailing expression is the value.

    Every exception (SyntaxError, SystemExit, KeyboardInterrupt too) comes back as `error`; the caller's
    interpreter lives on. KeyboardInterrupt is reported as type "Interrupted" (the host's interrupt).
    `flag.executing` is true exactly while user code runs, for a signal handler that must only interrupt it.
    """
    flag = flag if flag is not None else _Flag()
    budget = Budget()
    out, err = Capture("stdout", budget, send), Capture("stderr", budget, send)
    result = {}
    t0 = time.perf_counter()
    saved = fd_capture.begin()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        tree = compile(code, "<exec>", "exec", _ast.PyCF_ONLY_AST)
        tail = None
        if tree.body and isinstance(tree.body[-1], _ast.Expr):
            tail = _ast.Expression(tree.body.pop().value)
        flag.executing = True
        try:
            exec(compile(tree, "<exec>", "exec"), g)
            if tail is not None:
                value = eval(compile(tail, "<exec>", "eval"), g)
                if value is not None:
                    result["value"] = repr(value)
        finally:
            flag.executing = False
    except BaseException as e:
        kind = "Interrupted" if isinstance(e, KeyboardInterrupt) else type(e).__name__
        result["error"] = {"type": kind, "message": str(e), "traceback": format_user_traceback(e)}
    finally:
        sys.stdout, sys.stderr = old
        fd_out, fd_err = fd_capture.end(saved, budget)
    result["stdout"] = out.text() + fd_out
    result["stderr"] = err.text() + fd_err
    result["truncated"] = budget.truncated
    result["durationMs"] = (time.perf_counter() - t0) * 1000
    return result


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ticks():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def kill_started_since(ticks, rounds=200, uid_is_ours=False):
    """SIGKILL every process of ours (same uid, not us) that started at or after `ticks`: what a timed-out
    command started, including children that left its process group (setsid, double forks). Processes
    that older background jobs happened to start meanwhile go too: a run's timeout is that blunt.

    `uid_is_ours` (a world with a uid of its own): everything else of the uid is stopped first, with one
    kill(-1, SIGSTOP), which no fork slips past (it never reaches the caller); so one pass kills all, and the
    rest (older background jobs) is continued. Otherwise passes repeat until one finds nothing: a fork bomb
    that keeps forking as it is killed can outlast them."""
    me, uid = os.getpid(), os.getuid()
    if uid_is_ours:
        os.kill(-1, signal.SIGSTOP)
        try:
            _kill_pass(me, uid, ticks)
        finally:
            os.kill(-1, signal.SIGCONT)
        return
    for _ in range(rounds):
        if not _kill_pass(me, uid, ticks):
            return
        time.sleep(0.001)


def _kill_pass(me, uid, ticks):
    """SIGKILL the processes of `uid` (not `me`, not zombies) started at or after `ticks`; whether any were."""
    found = False
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            st = os.stat("/proc/" + name)
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if st.st_uid != uid or fields[0] == b"Z" or int(fields[19]) < ticks:
            continue
        found = True
        try:
            os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass
    return found


def run_command(argv, cwd, env, timeout_ms, send=None, uid_is_ours=False):
    """Run a command (argv list, or a string for /bin/sh -c) with the output cap and a timeout.

    The command gets its own process group, so a timeout kills everything it started. It returns when the
    command exits, even if a background child (`cmd &`) still holds the pipes.
    """
    import selectors
    import subprocess

    budget = Budget()
    t0 = time.perf_counter()
    started = _ticks()
    try:
        p = subprocess.Popen(argv, shell=isinstance(argv, str), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
    except (OSError, ValueError) as e:
        raise SpawnError("cannot start %r: %s" % (argv, e))
    try:
        # If the world's memory runs out, the OOM killer takes a command before the interpreter holding
        # the world's state (a process can always raise its children's score, never lower it).
        with open("/proc/%d/oom_score_adj" % p.pid, "w") as f:
            f.write("1000")
    except OSError:
        pass
    parts = {"stdout": [], "stderr": []}
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, "stdout")
    sel.register(p.stderr, selectors.EVENT_READ, "stderr")
    deadline = None if not timeout_ms else time.monotonic() + timeout_ms / 1000
    timed_out = False
    open_streams = 2
    drain_until = None
    while open_streams:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            timed_out = True
            kill_group(p.pid)
            kill_started_since(started, uid_is_ours=uid_is_ours)
            break
        # Once the command has exited, take what is already written and stop waiting for the pipes.
        if drain_until is None and p.poll() is not None:
            drain_until = now + 0.05
        if drain_until is not None and now >= drain_until:
            break
        for key, _ in sel.select(0.05):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            kept = budget.take(chunk.decode("utf-8", "replace"))
            if kept:
                parts[key.data].append(kept)
                if send is not None:
                    send(key.data, kept)
    sel.close()
    p.wait()
    p.stdout.close()
    p.stderr.close()
    code = p.returncode
    res = {
        "exitCode": code if code >= 0 else None,
        "stdout": "".join(parts["stdout"]),
        "stderr": "".join(parts["stderr"]),
        "truncated": budget.truncated,
        "timedOut": timed_out,
        "durationMs": (time.perf_counter() - t0) * 1000,
    }
    if code < 0:
        res["signal"] = signal.Signals(-code).name
    return res
