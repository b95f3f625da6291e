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

import _ast
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

# Imported where first needed, not here: every module loaded at start costs create time and pages that each
# branch may copy. (ast, traceback, subprocess, shutil, base64 and threading add ~30 ms to a cold start.)

OUTPUT_CAP = 1 << 20  # bytes of stdout+stderr kept per exec/run; the rest is cut and flagged
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


# ---------------------------------------------------------------- output capture


class Capture(io.TextIOBase):
    """sys.stdout/sys.stderr during an exec: keeps up to the shared cap, optionally streams chunks."""

    def __init__(self, name, budget, stream_to):
        self.name_ = name
        self.parts = []
        self.budget = budget
        self.stream_to = stream_to

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        kept = self.budget.take(s)
        if kept:
            self.parts.append(kept)
            if self.stream_to is not None:
                self.stream_to(self.name_, kept)
        return len(s)

    def text(self):
        return "".join(self.parts)


class Budget:
    def __init__(self, cap):
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
        self.fd_capture = None  # (pid, memfd out, memfd err), made lazily per process
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
        code = req["code"]
        stream = req.get("stream", False)
        rid = req.get("id")
        budget = Budget(OUTPUT_CAP)
        send = (lambda name, chunk: self.conn.send({"id": rid, "event": name, "data": chunk})) if stream else None
        out, err = Capture("stdout", budget, send), Capture("stderr", budget, send)
        result = {}
        t0 = time.perf_counter()
        fds = self.begin_fd_capture()
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            self.executing = True
            try:
                tree = compile(code, "<exec>", "exec", _ast.PyCF_ONLY_AST)
                tail = None
                if tree.body and isinstance(tree.body[-1], _ast.Expr):
                    tail = _ast.Expression(tree.body.pop().value)
                exec(compile(tree, "<exec>", "exec"), self.globals)
                if tail is not None:
                    value = eval(compile(tail, "<exec>", "eval"), self.globals)
                    if value is not None:
                        result["value"] = repr(value)
            finally:
                self.executing = False
        except BaseException as e:  # SystemExit and KeyboardInterrupt too: the world lives on
            if isinstance(e, KeyboardInterrupt):
                kind = "Interrupted"
            else:
                kind = type(e).__name__
            tb = format_user_traceback(e)
            result["error"] = {"type": kind, "message": str(e), "traceback": tb}
        finally:
            sys.stdout, sys.stderr = old
            fd_out, fd_err = self.end_fd_capture(fds, budget)
        result["stdout"] = out.text() + fd_out
        result["stderr"] = err.text() + fd_err
        result["truncated"] = budget.truncated
        result["durationMs"] = (time.perf_counter() - t0) * 1000
        return result

    def begin_fd_capture(self):
        # Output written straight to fd 1/2 (os.system, C code) lands in per-process memfds, read back after.
        if self.fd_capture is None or self.fd_capture[0] != os.getpid():
            self.fd_capture = (os.getpid(), os.memfd_create("out"), os.memfd_create("err"))
        _, mo, me = self.fd_capture
        for fd in (mo, me):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, 0)
        saved = (os.dup(1), os.dup(2))
        os.dup2(mo, 1)
        os.dup2(me, 2)
        return saved

    def end_fd_capture(self, saved, budget):
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        _, mo, me = self.fd_capture
        texts = []
        for fd in (mo, me):
            os.lseek(fd, 0, 0)
            data = os.read(fd, budget.left + 1) if budget.left > 0 else b""
            if os.fstat(fd).st_size > len(data):
                budget.truncated = True
            texts.append(budget.take(data.decode("utf-8", "replace")))
        return texts[0], texts[1]

    # -- commands

    def op_run(self, req):
        import selectors
        import subprocess

        argv = req["argv"]
        shell = isinstance(argv, str)
        cwd = self.resolve(req.get("cwd") or ".")
        env = dict(os.environ)
        env.update(req.get("env") or {})
        timeout = req.get("timeoutMs")
        stream = req.get("stream", False)
        rid = req.get("id")
        budget = Budget(OUTPUT_CAP)
        t0 = time.perf_counter()
        try:
            # Own process group (so a timeout kills the command's whole tree), same session as the world
            # (so destroying the world finds it).
            p = subprocess.Popen(argv, shell=shell, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
        except (OSError, ValueError) as e:
            raise Fault("SPAWN", "cannot start %r: %s" % (argv, e))
        parts = {"stdout": [], "stderr": []}
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ, "stdout")
        sel.register(p.stderr, selectors.EVENT_READ, "stderr")
        deadline = None if not timeout else time.monotonic() + timeout / 1000
        timed_out = False
        open_streams = 2
        drain_until = None
        while open_streams:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                timed_out = True
                self.kill_group(p.pid)
                break
            # A background child (`cmd &`) may keep the pipes open long after the command itself exits: once
            # it has exited, take what is already written and stop waiting.
            if drain_until is None and p.poll() is not None:
                drain_until = now + 0.05
            if drain_until is not None and now >= drain_until:
                break
            events = sel.select(0.05)
            for key, _ in events:
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                kept = budget.take(chunk.decode("utf-8", "replace"))
                if kept:
                    parts[key.data].append(kept)
                    if stream:
                        self.conn.send({"id": rid, "event": key.data, "data": kept})
        sel.close()
        if timed_out:
            p.wait()
        else:
            try:
                p.wait(timeout=None if deadline is None else max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                self.kill_group(p.pid)
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

    @staticmethod
    def kill_group(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # -- files

    def resolve(self, path):
        """A path inside this world's directory; anything that escapes it is refused."""
        full = os.path.realpath(os.path.join(self.home, path))
        if full != self.home and not full.startswith(self.home + os.sep):
            raise Fault("PATH_OUTSIDE", "path %r is outside the world's files (%s)" % (path, self.home))
        return full

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
            self.fd_capture = None
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
        for _ in range(50):
            victims = [pid for pid, (_, psid) in proc_table().items() if psid == sid]
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.002)
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


def format_user_traceback(e):
    """The traceback without the agent's own frames: the user sees only frames of their code."""
    import traceback

    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


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
