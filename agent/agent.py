"""world-runtime guest agent (process driver): the world side. See agent/PROTOCOL.md and docs/security.md.

Every world, snapshot and spare is one of these processes. The keeper (keeper.py) forks a tree's first
world; every other is forked from a world (a snapshot, or a branch of a running world) or from a snapshot
(a branch). A forked child is born in three steps, each of which the keeper mediates:
  1. unshare() its mount, network, IPC and UTS namespaces;
  2. setresuid() to the uid the keeper assigned it: while that call waits, the keeper swaps the child's
     /world, /tmp and /dev/shm for its own and puts its own host connection at CONTROL_FD;
  3. make its inherited handles and shared memory its own (rehome.py).
Only then does it serve requests. No user code runs in a child before step 3.
"""

import builtins
import gc
import io
import json
import os
import random
import resource
import signal
import socket
import sys
import time
import weakref

# -I leaves the script's folder off sys.path; the shared modules live beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol  # noqa: E402
import rehome  # noqa: E402
import sandbox  # noqa: E402
import worldexec  # noqa: E402
from protocol import Fault  # noqa: E402

# Imported where first needed, not here: every module loaded at start costs create time and pages that each
# branch may copy. (ast, traceback, subprocess, shutil and threading add ~30 ms to a cold start.)

CONTROL_FD = 1000  # where the keeper puts a new world's host connection
FIRST_WORLD_UID = 1000  # worlds' uids inside the tree's user namespace start here
WORLD_GID = 1000
MAX_LINE = 16 << 20  # the host's requests are bounded like everything else on the channel
MAX_PROCESSES = 512  # per world (isolation 'world': RLIMIT_NPROC counts per uid)

# How this tree is sandboxed: 'world' (a uid and namespaces per world), 'tree' (namespaces per world, one
# shared uid), 'none' (no sandbox). Set in the first world; every fork inherits it.
MODE = "none"
HOME = "/world"


class Conn:
    """A framed connection to the host: one JSON object per line."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")

    @classmethod
    def at(cls, fd):
        return cls(socket.socket(fileno=fd))

    def send(self, msg):
        self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def recv(self):
        line = self.reader.readline(MAX_LINE + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise OverflowError("request longer than %d bytes" % MAX_LINE)
        return json.loads(line)

    def drop(self):
        # In a fork child: close our copies only. shutdown() would cut the parent's connection too.
        try:
            self.reader.close()
        finally:
            self.sock.close()


REPLIED = object()  # returned by a handler that has answered its request itself
ROLE_OPS = {"snapshot": ("fork", "ping", "exit"), "spare": ("activate", "ping", "exit")}


class Reborn(BaseException):
    """Raised in a fork child once it is born: it unwinds the parent's request (whose stack the child
    inherited) back to the serve loop, so a chain of 1,000 generations does not nest 1,000 serve loops."""


class World:
    def __init__(self, conn, role, home):
        self.conn = conn
        self.role = role
        self.home = home
        self.globals = {"__name__": "__main__", "__builtins__": builtins}
        self.children = set()  # pids we forked: the only ones we reap
        self.executing = False
        self.fd_capture = worldexec.FdCapture()
        self.random_state = random.getstate()
        self.files = protocol.Files()
        self.handles = []  # a snapshot's record of its parent's files, reopened by each branch
        self.shared = []  # a snapshot's record of its parent's shared mappings

    # -- dispatch

    def serve(self):
        signal.signal(signal.SIGCHLD, lambda *_: self.reap())
        while True:
            try:
                self.serve_one()
            except Reborn:
                pass  # a fork child, born: it serves its own connection from here on

    def serve_one(self):
        while True:
            try:
                req = self.conn.recv()
            except (OverflowError, ValueError):
                os._exit(3)  # the host never sends these: whatever is on the other end is not the host
            if req is None:
                os._exit(0)  # host gone: a world never outlives its runtime
            rid = req.get("id")
            try:
                handler = getattr(self, "op_" + str(req.get("op")), None)
                if handler is None or (self.role in ROLE_OPS and req["op"] not in ROLE_OPS[self.role]):
                    raise Fault(protocol.DRIVER, "unknown operation %r for a %s" % (req.get("op"), self.role))
                result = handler(req)
                if result is not REPLIED:
                    self.conn.send(protocol.ok(rid, result))
            except Exception as e:  # the agent itself must never die of a bad request
                self.conn.send(protocol.failure(rid, e))

    def reap(self):
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def op_ping(self, req):
        return {"pid": os.getpid(), "role": self.role, "uid": os.getuid()}

    def op_exit(self, req):
        self.conn.send(protocol.ok(req.get("id"), {}))
        os._exit(0)

    # -- code and commands

    def op_exec(self, req):
        rid = req.get("id")
        send = (lambda name, chunk: self.conn.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        return worldexec.execute(req["code"], self.globals, self.fd_capture, send, flag=self)

    def op_run(self, req):
        rid = req.get("id")
        send = (lambda name, chunk: self.conn.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        env = dict(os.environ)
        env.update(req.get("env") or {})
        try:
            return worldexec.run_command(req["argv"], protocol.resolve(self.home, req.get("cwd") or "."), env, req.get("timeoutMs"), send,
                                         uid_is_ours=MODE == "world")
        except worldexec.SpawnError as e:
            raise Fault(protocol.INVALID_ARGUMENT, str(e))

    # -- files, streamed in chunks both ways (protocol.Files)

    def op_write_file(self, req):
        return self.files.write(self.home, req)

    def op_read_file(self, req):
        rid = req.get("id")
        return self.files.read(self.home, req, lambda chunk: self.conn.send({"id": rid, "event": "data", "data": chunk}))

    # -- fork: snapshot, branch, spares

    def before_fork(self):
        # /proc counts threads started from C too (numpy's BLAS pools, ...), not only `threading` ones.
        live = len(os.listdir("/proc/self/task"))
        if live > 1:
            raise Fault(protocol.FORK_REFUSED, "refusing to fork: %d threads alive (a forked copy would hold locks "
                        "and state of threads that do not exist in it); join them first" % live)
        # Unflushed buffers would be written once by each copy.
        for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                f.flush()
            except Exception:
                pass
        for f in list(_writable_files):
            try:
                if not f.closed:
                    f.flush()
            except Exception:
                pass
        # Every object into the permanent generation, so the collector never writes to (and copies) them.
        gc.freeze()
        # `random` reseeds itself in every fork child (os.register_at_fork); keep the state for callers who
        # ask for identical streams.
        self.random_state = random.getstate()

    def op_fork(self, req):
        """Fork one child per birth the keeper prepared. The reply goes out the instant fork returns."""
        self.before_fork()
        role, births = req["role"], req["births"]
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = self.home
        done = json.dumps(protocol.ok(req.get("id"), {})).encode() + b"\n"
        # What the children inherit, as of now: a child reads it later, when this process has moved on.
        live = self.role != "snapshot" and MODE != "none"
        handles = rehome.own_handles(keep=(CONTROL_FD,)) if live else self.handles
        shared = rehome.shared_maps() if live else []
        for birth in births:
            # A child must copy shared memory before we touch it again: wait for it (only when there is any).
            ready_r, ready_w = os.pipe() if shared else (None, None)
            pid = os.fork()
            if pid == 0:
                self.born(birth, role, req.get("sameRandom", False), cwd, handles, shared, ready_w)
            self.children.add(pid)
            if ready_w is not None:
                os.close(ready_w)
                os.read(ready_r, 1)
                os.close(ready_r)
        if req.get("refreshOwn"):
            # overlay: the keeper froze our files under us and our handles still point into the frozen layer.
            # Note them while their paths still read /world/..., take the fresh mount, reopen them on it.
            table = rehome.own_handles(keep=(CONTROL_FD,))
            maps = rehome.own_file_maps()
            sandbox.unshare(0)
            rehome.reopen(table)
            rehome.remap_files(maps)
        self.conn.sock.sendall(done)
        return REPLIED

    def born(self, birth, role, same_random, cwd, handles, shared, ready):
        """In a fork child: become a new domain (module docstring), then raise Reborn to serve it.

        `handles` and `shared` are the parent's open files and shared mappings at the fork; `ready` (when
        there are shared mappings) is told once this child has its own copy of them.
        """
        conn = None
        try:
            from_snapshot = self.role == "snapshot"
            if shared:
                regions = rehome.own_mappings(frozen=role == "snapshot")
                os.write(ready, b"c")
                os.close(ready)
            self.conn.drop()
            os.setsid()  # own session and process group: a terminal-less world of its own
            if MODE != "none":
                sandbox.unshare(sandbox.BIRTH_FLAGS)
            os.setresuid(birth["uid"], birth["uid"], birth["uid"])
            if MODE != "none":
                sandbox.setns(sandbox.NETNS_FD, sandbox.CLONE_NEWNET)
                os.close(sandbox.NETNS_FD)
            conn = Conn.at(CONTROL_FD)
            if MODE != "none":
                rehome.take_handles(keep=(CONTROL_FD,))
                if role == "snapshot":
                    self.handles, self.shared = handles, (regions if shared else [])
                else:
                    rehome.reopen(handles)
                    if from_snapshot:
                        rehome.share_again(self.shared)
                    self.handles, self.shared = [], []
            self.conn = conn
            self.children = set()
            self.files.forget()
            home = birth.get("home") or self.home
            if role == "spare":
                self.role, self.home = "spare", home
                self.warm_up()
            else:
                self.become(home, cwd, role, same_random)
        except BaseException as e:
            if conn is not None:
                try:  # the host records why this world could not start
                    conn.send({"fatal": "%s: %s" % (type(e).__name__, e)})
                except BaseException:
                    pass
            os._exit(1)
        raise Reborn()

    def become(self, home, cwd, role, same_random, memory_mib=None):
        self.home, self.role = home, role
        os.chdir(cwd if cwd == home or cwd.startswith(home + "/") else home)
        os.environ["HOME"] = home
        os.environ["TMPDIR"] = "/tmp" if MODE != "none" else home
        os.environ["PWD"] = os.getcwd()
        if same_random:
            random.setstate(self.random_state)
        else:
            random.seed()
            np = sys.modules.get("numpy")
            if np is not None:
                np.random.seed(int.from_bytes(os.urandom(4), "little"))
        limit_memory(memory_mib)

    def warm_up(self):
        # Touch the request path once so the pages it writes are copied now, not during the first real exec.
        saved = self.conn
        self.conn = None
        try:
            self.op_exec({"code": "None", "id": 0})
        finally:
            self.conn = saved

    def op_activate(self, req):
        if self.role != "spare":
            raise Fault(protocol.DRIVER, "only a spare can be activated")
        self.become(self.home, self.home, "world", req.get("sameRandom", False), req.get("memoryMib"))
        return {"pid": os.getpid()}


# Writable files opened by user code, flushed before every fork.
_writable_files = weakref.WeakSet()
builtins_open = builtins.open


def _tracking_open(file, mode="r", *args, **kwargs):
    f = builtins_open(file, mode, *args, **kwargs)
    if any(c in mode for c in "wax+"):
        _writable_files.add(f)
    return f


def limit_memory(memory_mib):
    """Cap the agent's address space at what it has now plus `memory_mib`, so a big allocation in the world's
    own interpreter fails with MemoryError rather than waking the cgroup's OOM killer. Inherited by branches."""
    if not memory_mib:
        return
    with builtins_open("/proc/self/statm", "rb") as f:
        base = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = base + memory_mib * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)  # inherited from the source: a world cannot raise it, and need not
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def on_interrupt(signum, frame):
    # The host interrupts a running exec with SIGINT; between requests it must not kill the agent.
    if _current_world is not None and _current_world.executing:
        raise KeyboardInterrupt


_current_world = None


def first_world(sp, role, mode, uid, memory_mib, home, cgroups=None):
    """In the keeper's fork child: become the tree's first world (or the spare a create will take)."""
    global MODE, HOME, _current_world
    try:
        MODE, HOME = mode, home
        os.setsid()
        sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        sandbox.close_range(3, sp.fileno() - 1)
        sandbox.close_range(sp.fileno() + 1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        with open("/proc/self/oom_score_adj", "w") as f:
            # Raised (lowering needs CAP_SYS_RESOURCE): the keeper's -1000, where it could set it, is not ours.
            f.write("500")
        procs = cgroups.worlds_procs() if cgroups else None  # out of the keeper's memory group (limits.py)
        if mode != "none":
            sandbox.unshare(sandbox.FIRST_FLAGS | (sandbox.CLONE_NEWUSER if mode == "world" else 0))
        sp.sendall(b"u")
        if procs is not None:
            os.write(procs, b"0")
            os.close(procs)
        if sp.recv(1) != b"g":  # the keeper has written our id maps and built our root
            os._exit(1)
        if mode == "world":
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)  # root of the new user namespace: every capability in it, none outside
        sandbox.prctl(sandbox.PR_SET_SECUREBITS, sandbox.SECURE_BITS)
        if mode == "world":
            os.setgroups([])
            os.setresgid(WORLD_GID, WORLD_GID, WORLD_GID)
            # Counted per uid, so per world: a fork bomb stops here without touching other worlds.
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        if mode != "none":
            # Kept only for this world's own branches, which need them to be born; the filter bounds them.
            sandbox.keep_only((sandbox.CAP_SYS_ADMIN, sandbox.CAP_SETUID) if mode == "world" else (sandbox.CAP_SYS_ADMIN,))
        listener = sandbox.install_filter()
        socket.send_fds(sp, [b"L"], [listener])
        os.close(listener)
        sp.close()
        os.setresuid(uid, uid, uid)
        builtins.open = _tracking_open
        io.open = _tracking_open
        signal.signal(signal.SIGINT, on_interrupt)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        world = _current_world = World(Conn.at(CONTROL_FD), role, home)
        if role == "spare":
            os.chdir(home)
            world.warm_up()
        else:
            world.become(home, home, role, True, memory_mib)
    except BaseException:
        os._exit(1)
    try:
        world.serve()
    finally:
        os._exit(1)
