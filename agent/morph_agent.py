"""The morph driver's agent inside a Morph instance (src/drivers/morph/): the only door into an instance is
Morph's exec API (one command, its output), so the persistent interpreter is a process started once in the
background (`serve`), and every exec is one exec call running this file as a client (`exec`), which hands
the code to it over a unix socket and prints its JSON reply. `run`, `write` and `read` need no state and run
in the client process itself. Every reply is one JSON line on stdout; exit codes: 0 a reply, 3 the
interpreter is gone (the world failed), 4 it did not answer within the timeout and its grace (hung).

Code runs with agent/worldexec.py's semantics (copied beside this file), as in the other drivers. A Morph
snapshot keeps every process of the VM, so the interpreter and its globals live on in every branch.

Stdlib only.
"""

import os
import sys

# An image whose stdlib has no compiled files (a read-only one) would compile every module at each call,
# most of an exec call's time: compiled files are kept beside the agent instead.
sys.pycache_prefix = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pycache")
sys.dont_write_bytecode = False

import base64  # noqa: E402
import builtins  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worldexec  # noqa: E402

HOME = "/world"
SOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent.sock")
HANG_GRACE_S = 2.0


class ExecTimeout(BaseException):
    pass


def serve():
    os.makedirs(HOME, exist_ok=True)
    os.chdir(HOME)
    g = {"__name__": "__main__", "__builtins__": builtins}
    fd_capture = worldexec.FdCapture()
    flag = worldexec._Flag()

    def on_alarm(_sig, _frame):
        if flag.executing:
            raise ExecTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        os.unlink(SOCK)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(SOCK + ".new")
    os.chmod(SOCK + ".new", 0o600)
    srv.listen(8)
    # Appears only once it listens: a client that finds it can connect.
    os.rename(SOCK + ".new", SOCK)
    while True:
        conn, _ = srv.accept()
        try:
            with conn, conn.makefile("rwb") as f:
                req = json.loads(f.readline() or b"null")
                if not isinstance(req, dict):
                    continue
                if req.get("op") == "ping":
                    reply = {"ok": True, "pid": os.getpid()}
                else:
                    timeout = req.get("timeoutMs") or 0
                    if timeout > 0:
                        signal.setitimer(signal.ITIMER_REAL, timeout / 1000)
                    try:
                        reply = worldexec.execute(req.get("code", ""), g, fd_capture, None, flag=flag)
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    err = reply.get("error")
                    if err is not None and err["type"] == "ExecTimeout":
                        err["type"] = "TimeoutError"
                        err["message"] = "exec exceeded its timeout of %d ms and was interrupted" % timeout
                f.write((json.dumps(reply) + "\n").encode())
                f.flush()
        except (OSError, ValueError):
            continue


def call(req):
    """Send one request to the interpreter and print its reply."""
    timeout = (req.get("timeoutMs") or 0) / 1000
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(SOCK)
    except OSError as e:
        print(json.dumps({"gone": "the interpreter is not running (%s)" % e}))
        return 3
    if timeout > 0:
        s.settimeout(timeout + HANG_GRACE_S)
    try:
        s.sendall((json.dumps(req) + "\n").encode())
        line = s.makefile("rb").readline()
    except socket.timeout:
        print(json.dumps({"hung": "the interpreter did not stop %.1f s after the exec's timeout" % HANG_GRACE_S}))
        return 4
    except OSError:
        line = b""
    if not line:
        print(json.dumps({"gone": "the interpreter ended during the exec"}))
        return 3
    sys.stdout.write(line.decode())
    return 0


def start():
    """Start the interpreter in its own session, detached from this exec call, and wait until it listens."""
    if os.path.exists(SOCK) and call({"op": "ping"}) == 0:
        return 0
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fd = os.open(os.devnull, os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "serve"])
    deadline = time.monotonic() + 30
    while not os.path.exists(SOCK):
        if time.monotonic() > deadline:
            print(json.dumps({"gone": "the interpreter did not start"}))
            return 3
        time.sleep(0.01)
    print(json.dumps({"ok": True}))
    return 0


def run(req):
    env = dict(os.environ)
    env.update(req.get("env") or {})
    try:
        cwd = worldexec.inside(HOME, req.get("cwd") or ".")
        res = worldexec.run_command(req["argv"], cwd, env, req.get("timeoutMs"))
    except (worldexec.SpawnError, worldexec.OutsideError) as e:
        res = {"invalid": str(e)}
    print(json.dumps(res))
    return 0


def write(req):
    try:
        # "scratch": a large exec's code, kept beside this file and out of the world's own files.
        scratch = req.get("scratch")
        path = os.path.join(os.path.dirname(SOCK), "code-%d" % int(scratch)) if scratch is not None else worldexec.inside(HOME, req["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "ab" if req.get("append") else "wb") as f:
            f.write(base64.b64decode(req.get("data", "")))
        res = {"ok": True}
    except worldexec.OutsideError as e:
        res = {"invalid": str(e)}
    except OSError as e:
        res = {"full" if e.errno in (28, 122) else "invalid": "%s: %s" % (req.get("path"), e.strerror)}
    print(json.dumps(res))
    return 0


def read(req):
    try:
        path = worldexec.inside(HOME, req["path"])
        with open(path, "rb") as f:
            f.seek(req.get("offset", 0))
            data = f.read(req.get("length", 1 << 19))
            size = os.fstat(f.fileno()).st_size
        res = {"data": base64.b64encode(data).decode(), "size": size}
    except worldexec.OutsideError as e:
        res = {"invalid": str(e)}
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        res = {"missing": req.get("path")}
    except OSError as e:
        res = {"invalid": "%s: %s" % (req.get("path"), e.strerror)}
    print(json.dumps(res))
    return 0


def main():
    op = sys.argv[1]
    if op == "serve":
        return serve()
    req = json.loads(base64.b64decode(sys.argv[2])) if len(sys.argv) > 2 else {}
    if op == "exec":
        if "codeFile" in req:
            with open(req.pop("codeFile")) as f:
                req["code"] = f.read()
        return call(req)
    if op == "start":
        return start()
    return {"run": run, "write": write, "read": read}[op](req)


if __name__ == "__main__":
    sys.exit(main())
