"""world-runtime guest agent: runs inside a microvm world (PID 2, started by /init).

Speaks agent/PROTOCOL.md with the host, one JSON object per line over a virtio-serial port named "agent": the
same envelope, ops and error codes as the process driver's agent (the shared parts are protocol.py and
worldexec.py, copied into the initramfs beside this file), plus `restore` (clock and randomness after a
snapshot restore) and an exec `timeoutMs` the guest enforces itself.

One request at a time; the host serialises. Stdlib only: it runs on the host's python3 from a read-only image.
"""

import builtins
import fcntl
import json
import os
import random
import signal
import struct
import sys
import time

# -I leaves the script's folder off sys.path; the modules shared with the process driver's agent live beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol  # noqa: E402
import worldexec  # noqa: E402
from protocol import Fault  # noqa: E402

HOME = "/world"
RNDADDENTROPY = 0x40085203
RNDRESEEDCRNG = 0x5207


class ExecTimeout(BaseException):
    pass


_agent = None


def on_alarm(signum, frame):
    # Only user code is interrupted; an alarm that lands in the agent's own bookkeeping is dropped.
    if _agent is not None and _agent.executing:
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


class Agent:
    def __init__(self, chan):
        self.chan = chan
        self.globals = {"__name__": "__main__", "__builtins__": builtins}
        self.fd_capture = worldexec.FdCapture()
        self.files = protocol.Files()
        self.executing = False

    def serve(self):
        while True:
            line = self.chan.recv()
            try:
                req = json.loads(line)
            except ValueError:
                continue
            if not isinstance(req, dict):
                continue
            rid = req.get("id")
            try:
                handler = getattr(self, "op_" + str(req.get("op", "")), None)
                if handler is None:
                    raise Fault(protocol.DRIVER, "unknown operation %r" % req.get("op"))
                res = protocol.ok(rid, handler(req))
            except Exception as e:  # the agent must never die of a bad request
                res = protocol.failure(rid, e)
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
        rid = req.get("id")
        timeout = req.get("timeoutMs") or 0
        send = (lambda name, chunk: self.chan.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        # "scratch": run in a throwaway namespace (used to warm the template without touching user globals)
        g = {"__name__": "__main__", "__builtins__": builtins} if req.get("scratch") else self.globals
        if timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, timeout / 1000)
        try:
            result = worldexec.execute(req["code"], g, self.fd_capture, send, flag=self)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        err = result.get("error")
        if err is not None and err["type"] == "ExecTimeout":
            err["type"] = "TimeoutError"
            err["message"] = "exec exceeded its timeout of %d ms and was interrupted" % timeout
        return result

    def op_run(self, req):
        rid = req.get("id")
        send = (lambda name, chunk: self.chan.send({"id": rid, "event": name, "data": chunk})) if req.get("stream") else None
        env = dict(os.environ)
        env.update(req.get("env") or {})
        try:
            return worldexec.run_command(req["argv"], protocol.resolve(HOME, req.get("cwd") or "."), env, req.get("timeoutMs"), send)
        except worldexec.SpawnError as e:
            raise Fault(protocol.INVALID_ARGUMENT, str(e))

    def op_write_file(self, req):
        return self.files.write(HOME, req)

    def op_read_file(self, req):
        rid = req.get("id")
        return self.files.read(HOME, req, lambda chunk: self.chan.send({"id": rid, "event": "data", "data": chunk}))


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

    global _agent
    _agent = Agent(Channel(find_port("agent")))
    _agent.serve()


if __name__ == "__main__":
    main()
