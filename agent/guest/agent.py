"""world-runtime guest agent: runs inside a microvm world (PID 2, started by /init).

Talks newline-delimited JSON with the host over a virtio-serial port named "agent":
  request  {"id": n, "op": "...", ...}
  reply    {"id": n, "ok": true, ...}  or  {"id": n, "ok": false, "error": {"type", "message"}}
  event    {"id": n, "event": "stdout"|"stderr", "data": "..."}  (only when the request asked "stream": true)

Ops: ping, exec, run, write, read, restore (clock + randomness after a snapshot restore), exit.
One request at a time; the host serialises. Stdlib only: it runs on the host's python3 from a read-only image.
"""

import ast
import base64
import builtins
import fcntl
import json
import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time
import traceback

OUTPUT_CAP = 1 << 20
HOME = "/world"
RNDADDENTROPY = 0x40085203
RNDRESEEDCRNG = 0x5207


class Fault(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


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


class Capture:
    """sys.stdout / sys.stderr during an exec: keeps up to the shared cap, optionally streams chunks."""

    def __init__(self, name, budget, send):
        self.name_ = name
        self.parts = []
        self.budget = budget
        self.send = send

    def writable(self):
        return True

    def flush(self):
        pass

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        kept = self.budget.take(s)
        if kept:
            self.parts.append(kept)
            if self.send is not None:
                self.send(self.name_, kept)
        return len(s)

    def text(self):
        return "".join(self.parts)


class ExecTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise ExecTimeout()


class Channel:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.buf = b""

    def recv(self):
        while b"\n" not in self.buf:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                # host side not connected (e.g. between restores): wait and retry
                time.sleep(0.005)
                continue
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def send(self, obj):
        data = (json_dumps(obj) + "\n").encode()
        while data:
            try:
                n = os.write(self.fd, data)
            except (BlockingIOError, InterruptedError):
                time.sleep(0.001)
                continue
            except OSError:
                # no host connected: drop (the host re-asks after it reconnects)
                return
            data = data[n:]


def json_dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def format_user_traceback(e):
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def resolve(path):
    """A path inside the world's own directory; refuses to leave it (also through symlinks)."""
    if not isinstance(path, str) or path == "" or "\0" in path:
        raise Fault("INVALID_ARGUMENT", "path must be a non-empty string")
    full = os.path.realpath(os.path.join(HOME, path))
    if full != HOME and not full.startswith(HOME + "/"):
        raise Fault("INVALID_ARGUMENT", "path %r is outside the world's directory %s" % (path, HOME))
    return full


class Agent:
    def __init__(self, chan):
        self.chan = chan
        self.globals = {"__name__": "__main__", "__builtins__": builtins}
        self.mo = os.memfd_create("out")
        self.me = os.memfd_create("err")

    def serve(self):
        while True:
            line = self.chan.recv()
            try:
                req = json.loads(line)
            except ValueError:
                continue
            rid = req.get("id")
            handler = getattr(self, "op_" + str(req.get("op", "")), None)
            try:
                if handler is None:
                    raise Fault("INVALID_ARGUMENT", "unknown op %r" % req.get("op"))
                res = handler(req)
                res["id"] = rid
                res["ok"] = True
            except Fault as e:
                res = {"id": rid, "ok": False, "error": {"type": e.kind, "message": str(e)}}
            except Exception as e:
                res = {"id": rid, "ok": False, "error": {"type": type(e).__name__, "message": str(e)}}
            self.chan.send(res)
            if req.get("op") == "exit":
                os._exit(0)

    def op_ping(self, req):
        return {"pid": os.getpid()}

    def op_exit(self, req):
        return {}

    def op_restore(self, req):
        """After a snapshot restore: set the wall clock from the host, and reseed randomness unless asked not to."""
        t = req.get("timeNs")
        if t:
            time.clock_settime_ns(time.CLOCK_REALTIME, int(t))
        seed = req.get("seed")
        if seed:
            raw = bytes.fromhex(seed)
            fd = os.open("/dev/urandom", os.O_WRONLY)
            try:
                fcntl.ioctl(fd, RNDADDENTROPY, struct.pack("ii", len(raw) * 8, len(raw)) + raw)
                fcntl.ioctl(fd, RNDRESEEDCRNG)
            finally:
                os.close(fd)
            # the module-level generator user code shares via `import random` (an int seed: no sha512 path)
            random.seed(int.from_bytes(raw, "big"))
        return {}

    def op_exec(self, req):
        code = req["code"]
        rid = req.get("id")
        stream = req.get("stream", False)
        timeout = req.get("timeoutMs") or 0
        budget = Budget(OUTPUT_CAP)
        send = (lambda name, chunk: self.chan.send({"id": rid, "event": name, "data": chunk})) if stream else None
        out, err = Capture("stdout", budget, send), Capture("stderr", budget, send)
        result = {}
        # "scratch": run in a throwaway namespace (used to warm the template without touching user globals)
        g = {"__name__": "__main__", "__builtins__": builtins} if req.get("scratch") else self.globals
        t0 = time.perf_counter()
        saved = self.begin_fd_capture()
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            try:
                if timeout > 0:
                    signal.setitimer(signal.ITIMER_REAL, timeout / 1000)
                tree = ast.parse(code, "<exec>", "exec")
                tail = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    tail = ast.Expression(tree.body.pop().value)
                exec(compile(tree, "<exec>", "exec"), g)
                if tail is not None:
                    value = eval(compile(tail, "<exec>", "eval"), g)
                    if value is not None:
                        result["value"] = repr(value)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except ExecTimeout as e:
            result["error"] = {
                "type": "TimeoutError",
                "message": "exec interrupted after %d ms" % timeout,
                "traceback": format_user_traceback(e),
            }
        except BaseException as e:  # SystemExit and KeyboardInterrupt too: the world lives on
            kind = "Interrupted" if isinstance(e, KeyboardInterrupt) else type(e).__name__
            result["error"] = {"type": kind, "message": str(e), "traceback": format_user_traceback(e)}
        finally:
            sys.stdout, sys.stderr = old
            fd_out, fd_err = self.end_fd_capture(saved, budget)
        result["stdout"] = out.text() + fd_out
        result["stderr"] = err.text() + fd_err
        result["truncated"] = budget.truncated
        result["durationMs"] = (time.perf_counter() - t0) * 1000
        return result

    def begin_fd_capture(self):
        for fd in (self.mo, self.me):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, 0)
        saved = (os.dup(1), os.dup(2))
        os.dup2(self.mo, 1)
        os.dup2(self.me, 2)
        return saved

    def end_fd_capture(self, saved, budget):
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        texts = []
        for fd in (self.mo, self.me):
            os.lseek(fd, 0, 0)
            data = os.read(fd, budget.left + 1) if budget.left > 0 else b""
            if os.fstat(fd).st_size > len(data):
                budget.truncated = True
            texts.append(budget.take(data.decode("utf-8", "replace")))
        return texts[0], texts[1]

    def op_run(self, req):
        argv = req["argv"]
        shell = isinstance(argv, str)
        cwd = resolve(req.get("cwd") or ".")
        env = dict(os.environ)
        env.update(req.get("env") or {})
        timeout = req.get("timeoutMs")
        stream = req.get("stream", False)
        rid = req.get("id")
        budget = Budget(OUTPUT_CAP)
        t0 = time.perf_counter()
        try:
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
        while open_streams:
            wait = None if deadline is None else max(0, deadline - time.monotonic())
            events = sel.select(wait)
            if not events and deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                kill_group(p.pid)
                break
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
                        self.chan.send({"id": rid, "event": key.data, "data": kept})
        sel.close()
        if timed_out:
            p.wait()
        else:
            try:
                p.wait(timeout=None if deadline is None else max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(p.pid)
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

    def op_write(self, req):
        path = resolve(req["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = base64.b64decode(req.get("data", ""))
        with open(path, "wb") as f:
            f.write(data)
        return {"size": len(data)}

    def op_read(self, req):
        path = resolve(req["path"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise Fault("NOT_FOUND", "no file %r in the world" % req["path"])
        except IsADirectoryError:
            raise Fault("INVALID_ARGUMENT", "%r is a directory" % req["path"])
        return {"data": base64.b64encode(data).decode()}


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def find_port(name):
    base = "/sys/class/virtio-ports"
    for _ in range(500):
        try:
            for entry in os.listdir(base):
                try:
                    with open(os.path.join(base, entry, "name")) as f:
                        if f.read().strip() == name:
                            return "/dev/" + entry
                except OSError:
                    pass
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit("agent: no virtio-serial port named %r" % name)


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.chdir(HOME)

    Agent(Channel(find_port("agent"))).serve()


if __name__ == "__main__":
    main()
