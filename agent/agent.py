"""world-runtime guest agent (process driver).

One fork tree per created world:
  keeper   started by the host (inside the sandbox); subreaper of the tree, reaps orphans, delivers signals,
           kills the whole tree when the host goes away. Never runs user code.
  world    forked from the keeper (create) or from a world/snapshot (branch); runs code and commands.
  snapshot forked from a world; stays frozen and only ever forks again.

Every process talks to the host over its own connection to the host's unix socket, newline-delimited JSON
(see agent/PROTOCOL.md). A forked child closes the inherited connection and reconnects with a one-time token.
Started as `python3 -I -S agent.py keeper SOCKET TOKEN`; it imports nothing from site-packages.
"""

import builtins
import ctypes
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

# -I leaves the script's folder off sys.path; the shared exec/run code lives beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worldexec  # noqa: E402

# Imported where first needed, not here: every module loaded at start costs create time and pages that each
# branch may copy. (ast, traceback, subprocess, shutil, base64 and threading add ~30 ms to a cold start.)

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


class Conn:
    """A framed connection to the host: one JSON object per line."""

    def __init__(self, path, token, role, error=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        hello = {"hello": token, "pid": os.getpid(), "role": role}
        if error is not None:
            hello["error"] = error
        self.send(hello)

    def send(self, msg):
        self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def recv(self):
        line = self.reader.readline()
        if not line:
            return None
        return json.loads(line)

    def drop(self):
        # In a fork child: close our copies only. shutdown() would cut the parent's connection too.
        try:
            self.reader.close()
        finally:
            self.sock.close()


# Returned by a handler that has answered its request itself.
REPLIED = object()

# What a frozen snapshot or an idle spare may be asked; a world may be asked anything but `activate`.
ROLE_OPS = {"snapshot": ("fork", "ping", "exit"), "spare": ("activate", "ping", "exit")}


class Fault(Exception):
    """An error reported to the host with a stable code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- world state


class World:
    def __init__(self, conn, sock_path, home, role):
        self.conn = conn
        self.sock_path = sock_path
        self.home = home  # this world's (or snapshot's) own directory
        self.role = role
        self.globals = {"__name__": "__main__", "__builtins__": builtins}
        self.children = set()  # pids we forked: the only ones we reap
        self.executing = False
        self.fd_capture = worldexec.FdCapture()
        self.random_state = random.getstate()

    # -- dispatch

    def serve(self):
        while True:
            req = self.conn.recv()
            if req is None:
                os._exit(0)  # host gone: a world never outlives its runtime
            self.reap()
            rid = req.get("id")
            try:
                handler = getattr(self, "op_" + str(req.get("op")), None)
                if handler is None or (self.role in ("snapshot", "spare") and req["op"] not in ROLE_OPS[self.role]):
                    raise Fault("BAD_OP", "unknown operation %r for a %s" % (req.get("op"), self.role))
                result = handler(req)
                if result is not REPLIED:
                    self.conn.send({"id": rid, "ok": True, "result": result})
            except Fault as e:
                self.conn.send({"id": rid, "ok": False, "error": {"code": e.code, "message": str(e)}})
            except Exception as e:  # the agent itself must never die of a bad request
                self.conn.send({"id": rid, "ok": False, "error": {"code": "AGENT", "message": "%s: %s" % (type(e).__name__, e)}})

    def reap(self):
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def op_ping(self, req):
        return {"pid": os.getpid(), "role": self.role}

    def op_exit(self, req):
        self.conn.send({"id": req.get("id"), "ok": True, "result": {}})
        os._exit(0)

    # -- code

    def op_exec(self, req):
        rid = req.get("id")
        send = (lambda name, chunk: self.conn.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        return worldexec.execute(req["code"], self.globals, self.fd_capture, send, flag=self)

    # -- commands

    def op_run(self, req):
        rid = req.get("id")
        send = (lambda name, chunk: self.conn.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        env = dict(os.environ)
        env.update(req.get("env") or {})
        try:
            return worldexec.run_command(req["argv"], self.resolve(req.get("cwd") or "."), env, req.get("timeoutMs"), send)
        except worldexec.SpawnError as e:
            raise Fault("SPAWN", str(e))

    # -- files

    def resolve(self, path):
        try:
            return worldexec.inside(self.home, path)
        except worldexec.OutsideError as e:
            raise Fault("PATH_OUTSIDE", str(e))

    def op_write_file(self, req):
        full = self.resolve(req["path"])
        os.makedirs(os.path.dirname(full), exist_ok=True)
        import binascii

        with builtins_open(full, "wb") as f:
            f.write(binascii.a2b_base64(req["data"]))
        return {"path": full}

    def op_read_file(self, req):
        full = self.resolve(req["path"])
        try:
            with builtins_open(full, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise Fault("NO_FILE", "no file %r in the world" % req["path"])
        except IsADirectoryError:
            raise Fault("NO_FILE", "%r is a directory" % req["path"])
        import binascii

        return {"data": binascii.b2a_base64(data, newline=False).decode()}

    # -- fork: snapshot and branch

    def before_fork(self):
        # /proc counts threads started from C too (numpy's BLAS pools, ...), not only `threading` ones.
        live = len(os.listdir("/proc/self/task"))
        if live > 1:
            raise Fault("FORK_REFUSED", "refusing to fork: %d threads alive (a forked copy would hold locks "
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
        # Move every object to the permanent generation, so the collector never writes to (and copies) them.
        gc.freeze()
        # `random` reseeds itself in every fork child (os.register_at_fork); keep the state for callers who
        # ask for identical streams.
        self.random_state = random.getstate()

    def fork_child(self, token, home, src, role, same_random, reply_to=None):
        """Fork; the child becomes a new world, snapshot or spare. Returns the child's pid in the parent.

        With `reply_to`, the parent answers that request the instant fork returns, from bytes encoded before
        the fork: after a fork every page the parent writes is copied first, and the reply should not wait
        for that (the host learns the children from their own hellos).
        """
        done = json.dumps({"id": reply_to, "ok": True, "result": {}}).encode() + b"\n" if reply_to is not None else None
        pid = os.fork()
        if pid:
            if done is not None:
                self.conn.sock.sendall(done)
            self.children.add(pid)
            return pid
        try:
            os.setsid()  # own session: destroying this world kills exactly its session
            self.conn.drop()
            self.children = set()
            if role == "spare":
                # A pre-forked copy waiting to become a world: it has paid the fork and its page faults
                # already, so a branch only has to name it (op_activate).
                self.role = "spare"
                self.conn = Conn(self.sock_path, token, "spare")
                self.warm_up()
            else:
                self.become(home, src, role, same_random)
                self.conn = Conn(self.sock_path, token, role)
        except BaseException as e:
            report_start_failure(self.sock_path, token, e)
            os._exit(1)
        try:
            self.serve()
        finally:
            os._exit(1)

    def become(self, home, src, role, same_random, memory_mib=None):
        if src is not None and src != home:
            copy_tree(src, home)
        elif not os.path.isdir(home):
            os.makedirs(home)
        os.chdir(home)
        os.environ["HOME"] = home
        os.environ["TMPDIR"] = home
        if same_random:
            random.setstate(self.random_state)
        else:
            random.seed()
            np = sys.modules.get("numpy")
            if np is not None:
                np.random.seed(int.from_bytes(os.urandom(4), "little"))
        limit_memory(memory_mib)
        self.home = home
        self.role = role

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
            raise Fault("BAD_OP", "only a spare can be activated")
        self.become(req["home"], req.get("src"), "world", req.get("sameRandom", False), req.get("memoryMib"))
        return {"pid": os.getpid()}

    def op_snapshot(self, req):
        self.before_fork()
        # The snapshot's files: a copy made while this world is paused (it is busy serving this request).
        copy_tree(self.home, req["home"])
        self.fork_child(req["token"], req["home"], None, "snapshot", True, reply_to=req.get("id"))
        return REPLIED

    def op_fork(self, req):
        self.before_fork()
        spare = req.get("spare", False)
        homes = req.get("homes") or [None] * len(req["tokens"])
        tokens = req["tokens"]
        for i, (token, home) in enumerate(zip(tokens, homes)):
            last = i == len(tokens) - 1
            self.fork_child(token, home, self.home, "spare" if spare else "world", req.get("sameRandom", False),
                            reply_to=req.get("id") if last else None)
        return REPLIED if tokens else {}


# Writable files opened by user code, flushed before every fork.
_writable_files = weakref.WeakSet()
builtins_open = builtins.open


def _tracking_open(file, mode="r", *args, **kwargs):
    f = builtins_open(file, mode, *args, **kwargs)
    if any(c in mode for c in "wax+"):
        _writable_files.add(f)
    return f


# ---------------------------------------------------------------- keeper


class Keeper:
    """Root of one fork tree: spawns the first world, reaps orphans, signals, and tears the tree down."""

    def __init__(self, sock_path, token):
        self.sock_path = sock_path
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        signal.signal(signal.SIGCHLD, self.on_child)
        self.conn = Conn(sock_path, token, "keeper")

    @staticmethod
    def on_child(signum, frame):
        # The keeper runs no subprocesses, so reaping any child is safe here: it is only ever worlds,
        # snapshots, and orphans handed to us as subreaper.
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def serve(self):
        while True:
            req = self.conn.recv()
            if req is None:
                self.kill_all()
                os._exit(0)
            rid = req.get("id")
            try:
                result = getattr(self, "op_" + req["op"])(req)
                self.conn.send({"id": rid, "ok": True, "result": result})
            except Exception as e:
                self.conn.send({"id": rid, "ok": False, "error": {"code": "AGENT", "message": "%s: %s" % (type(e).__name__, e)}})

    def op_ping(self, req):
        return {"pid": os.getpid()}

    def op_spawn(self, req):
        """Fork the tree's first world (or a spare that a later `create` activates)."""
        spare = req.get("spare", False)
        pid = os.fork()
        if pid:
            return {"pid": pid}
        global _current_world
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            self.conn.drop()
            world = _current_world = World(None, self.sock_path, None, "spare")
            if spare:
                world.conn = Conn(self.sock_path, req["token"], "spare")
                world.warm_up()
            else:
                world.become(req["home"], None, "world", True, req.get("memoryMib"))
                world.conn = Conn(self.sock_path, req["token"], "world")
        except BaseException as e:
            report_start_failure(self.sock_path, req["token"], e)
            os._exit(1)
        try:
            world.serve()
        finally:
            os._exit(1)

    def op_signal(self, req):
        try:
            os.kill(req["pid"], getattr(signal, req["signal"]))
            return {"sent": True}
        except ProcessLookupError:
            return {"sent": False}

    def op_kill_session(self, req):
        """Kill every process in a world's session (the world and the commands it started)."""
        sid = req["pid"]
        killed = 0
        # Repeat: a process that was forking while we scanned has a child the first pass did not see.
        for attempt in range(200):
            victims = [pid for pid, (_, psid) in proc_table().items() if psid == sid]
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            if attempt:
                time.sleep(0.0005)  # a killed process takes a moment to exit; a rescan right away is cheap
        return {"killed": killed}

    def op_exit(self, req):
        self.kill_all()
        self.conn.send({"id": req.get("id"), "ok": True, "result": {}})
        os._exit(0)

    def kill_all(self):
        # Everything in the tree descends from us (we are its subreaper); kill it all, then reap.
        me = os.getpid()
        for _ in range(3):
            table = proc_table()
            victims = [p for p in table if p != me and descends_from(p, me, table)]
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
            Keeper.on_child(None, None)


def report_start_failure(sock_path, token, e):
    """Tell the host why a new process could not start, instead of leaving it waiting for a hello."""
    try:
        Conn(sock_path, token, "failed", error="%s: %s" % (type(e).__name__, e))
    except BaseException:
        pass


def copy_tree(src, dst):
    """A world's files, copied for a snapshot or branch (ext4 here has no reflink; overlayfs is future work)."""
    if not any(os.scandir(src)):
        os.mkdir(dst)  # the common case, without importing shutil
        return
    import shutil

    shutil.copytree(src, dst, symlinks=True)


def proc_table():
    """pid -> (ppid, session) for every visible live (not zombie) process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with builtins_open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] == b"Z":
            continue  # already dead, waiting to be reaped: nothing to kill
        table[int(name)] = (int(fields[1]), int(fields[3]))
    return table


def descends_from(pid, ancestor, table):
    seen = 0
    while pid in table and seen < 4096:
        pid = table[pid][0]
        if pid == ancestor:
            return True
        seen += 1
    return False


def limit_memory(memory_mib):
    """Cap the world's address space at what it has now plus `memory_mib`; inherited by its branches."""
    if not memory_mib:
        return
    with builtins_open("/proc/self/statm", "rb") as f:
        base = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = base + memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def on_interrupt(signum, frame):
    # The host interrupts a running exec with SIGINT; between requests it must not kill the agent.
    if _current_world is not None and _current_world.executing:
        raise KeyboardInterrupt
    return


_current_world = None


def main():
    role, sock_path, token = sys.argv[1], sys.argv[2], sys.argv[3]
    if role != "keeper":
        sys.exit("agent.py: only the keeper role is started directly")
    builtins.open = _tracking_open
    io.open = _tracking_open
    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    Keeper(sock_path, token).serve()


if __name__ == "__main__":
    main()
