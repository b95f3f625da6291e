/**
 * @module
 * Python source of `_wr_e2b`, the module the E2B compatibility layer installs in a world's interpreter
 * (part 1 of 2: dispatch, processes, files, directory watches; part 2 is guest-cell.ts). A world handles
 * one request at a time, so envd's background work (commands that outlive a request, output that keeps
 * coming, directory events) lives here as state the host polls with one `tick` call per interval.
 *
 * Rules this code keeps, because it runs inside the world between the user's own code:
 * - it never starts a thread (a world with two threads cannot be snapshotted);
 * - it holds no pipe or FIFO open between calls: a snapshot or branch would keep a copy, and a command
 *   waiting for EOF on stdin would never see it (stdin goes through a FIFO kept open by a `sleep` holder);
 * - after a fork (the world was branched) nothing of the parent's processes or watches is used: `_own()`;
 * - every call answers JSON, `{"ok": ...}` or `{"err": {"code", "message"}}` with a Connect error code.
 */
export const GUEST_CORE = `
import _ast, base64, builtins, errno, json, os, signal, stat as _stat, sys, time

HOME = "/world"
RUN_DIR = "/tmp/.wr-e2b"
TICK_BYTES = 1 << 20
MAX_EXITED = 64
MAX_EVENTS = 100000
MAX_ENTRIES = 100000
MAX_PENDING_STDIN = 16 << 20


class Fault(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


ERRNO_CODES = {
    errno.ENOENT: "not_found", errno.EEXIST: "already_exists", errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied", errno.ENOTDIR: "invalid_argument", errno.EISDIR: "invalid_argument",
    errno.EINVAL: "invalid_argument", errno.ENOTEMPTY: "failed_precondition", errno.ENOSPC: "resource_exhausted",
    errno.EDQUOT: "resource_exhausted", errno.ENAMETOOLONG: "invalid_argument", errno.ELOOP: "invalid_argument",
    errno.EROFS: "permission_denied", errno.ENOTSUP: "unimplemented",
}


class St:
    pid = None
    procs = {}
    watch = None
    contexts = {}
    uploads = {}


def _b64(b):
    return base64.b64encode(b).decode("ascii")


def _fd_is(fd, target):
    try:
        return os.readlink("/proc/self/fd/%d" % fd) == target
    except OSError:
        return False


def _own():
    """A branch of this world inherits our tables, not the processes or the inotify instance behind them."""
    if St.pid == os.getpid():
        return
    if St.pid is not None:
        for p in list(St.procs.values()):
            p.disown()
        St.procs = {}
        if St.watch is not None:
            St.watch.disown()
            St.watch = None
        St.uploads = {}
    St.pid = os.getpid()


def call(op, arg, g=None):
    try:
        _own()
        fn = OPS.get(op)
        if fn is None:
            raise Fault("unimplemented", "no guest operation %r" % op)
        out = fn(json.loads(arg), g)
        return json.dumps({"ok": out}, ensure_ascii=True, separators=(",", ":"))
    except Fault as e:
        err = {"code": e.code, "message": str(e)}
    except OSError as e:
        err = {"code": ERRNO_CODES.get(e.errno, "internal"), "message": "%s%s" % (e.strerror or e, (": " + e.filename) if e.filename else "")}
    except KeyboardInterrupt:
        err = {"code": "deadline_exceeded", "message": "the operation was interrupted"}
    except BaseException as e:
        err = {"code": "internal", "message": "%s: %s" % (type(e).__name__, e)}
    return json.dumps({"err": err}, ensure_ascii=True, separators=(",", ":"))


def op_init(a, g):
    os.environ.update(a.get("env") or {})
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        os.chdir(HOME)
    except OSError:
        pass
    return {"pid": os.getpid()}


# -- processes ------------------------------------------------------------------------------------------

SIGNAL_WORDS = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGINT: "interrupt", signal.SIGHUP: "hangup",
                signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted", signal.SIGPIPE: "broken pipe"}


class Proc:
    def __init__(self, a):
        import subprocess
        cmd, args = a["cmd"], list(a.get("args") or [])
        cwd = a.get("cwd") or HOME
        if not os.path.isdir(cwd):
            raise Fault("invalid_argument", "cwd %r is not a directory in the sandbox" % cwd)
        env = dict(os.environ)
        env.update(a.get("envs") or {})
        os.makedirs(RUN_DIR, exist_ok=True)
        base = os.path.join(RUN_DIR, "%d-%s" % (os.getpid(), os.urandom(6).hex()))
        self.paths = [base + ".out", base + ".err"]
        self.cmd, self.args, self.envs, self.cwd, self.tag = cmd, args, a.get("envs") or {}, a.get("cwd"), a.get("tag")
        self.fifo, self.holder, self.pending, self.close_stdin = None, None, b"", False
        out = os.open(self.paths[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        err = os.open(self.paths[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        rd = wr = None
        try:
            stdin = subprocess.DEVNULL
            if a.get("stdin"):
                self.fifo = base + ".in"
                os.mkfifo(self.fifo, 0o600)
                rd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                wr = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                os.set_blocking(rd, True)
                stdin = rd
            try:
                self.p = subprocess.Popen([cmd] + args, stdin=stdin, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True)
            except OSError as e:
                raise Fault("invalid_argument", "cannot start %r: %s" % (cmd, e.strerror or e))
            if wr is not None:
                # The holder keeps a writer on the FIFO so the command sees EOF only when closeStdin ends it.
                self.holder = subprocess.Popen(["sleep", "infinity"], stdin=subprocess.DEVNULL, stdout=wr,
                                               stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            for fd in (out, err, rd, wr):
                if fd is not None:
                    os.close(fd)
        self.pid = self.p.pid
        self.uid = os.urandom(6).hex()
        self.fds = [os.open(p, os.O_RDONLY | os.O_CLOEXEC) for p in self.paths]
        self.exit = None
        self.exited_at = None
        try:
            with open("/proc/%d/oom_score_adj" % self.pid, "w") as f:
                f.write("1000")
        except OSError:
            pass

    def poll(self):
        if self.exit is None and self.p.poll() is not None:
            rc = self.p.returncode
            if rc >= 0:
                self.exit = {"code": rc, "status": "exit status %d" % rc}
            else:
                self.exit = {"code": -1, "status": "signal: " + SIGNAL_WORDS.get(-rc, signal.Signals(-rc).name)}
            self.exited_at = time.monotonic()
            self.end_holder()
        return self.exit

    def end_holder(self):
        if self.holder is not None:
            try:
                self.holder.kill()
                self.holder.wait()
            except OSError:
                pass
            self.holder = None

    def flush_stdin(self):
        while self.pending:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    self.pending = b""
                    break
                raise
            try:
                n = os.write(fd, self.pending)
                self.pending = self.pending[n:]
            except BlockingIOError:
                break
            except BrokenPipeError:
                self.pending = b""
            finally:
                os.close(fd)
            if self.pending:
                break
        if self.close_stdin and not self.pending:
            self.end_holder()

    def sizes(self):
        return [os.fstat(fd).st_size for fd in self.fds]

    def info(self):
        cfg = {"cmd": self.cmd, "args": self.args, "envs": self.envs}
        if self.cwd:
            cfg["cwd"] = self.cwd
        out = {"pid": self.pid, "config": cfg}
        if self.tag:
            out["tag"] = self.tag
        return out

    def forget(self):
        self.end_holder()
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        for p in self.paths + ([self.fifo] if self.fifo else []):
            try:
                os.unlink(p)
            except OSError:
                pass

    def disown(self):
        # Not ours (we are a fork): never wait on these pids, which may be reused by our own children.
        self.p.returncode = -255
        if self.holder is not None:
            self.holder.returncode = -255
        for fd, path in zip(self.fds, self.paths):
            if _fd_is(fd, path):
                os.close(fd)
        for p in self.paths + ([self.fifo] if self.fifo else []):
            try:
                os.unlink(p)
            except OSError:
                pass


def _find(a):
    if a.get("tag") is not None:
        for p in St.procs.values():
            if p.tag == a["tag"] and p.poll() is None:
                return p
        raise Fault("not_found", "no running process with tag %r" % a["tag"])
    p = St.procs.get(a.get("pid"))
    if p is None or p.poll() is not None or a.get("uid", p.uid) != p.uid:
        raise Fault("not_found", "process with pid %s not found" % a.get("pid"))
    return p


def _reap():
    for p in St.procs.values():
        p.poll()
    done = sorted((p for p in St.procs.values() if p.exit is not None), key=lambda p: p.exited_at)
    for p in done[:max(0, len(done) - MAX_EXITED)]:
        p.forget()
        del St.procs[p.pid]


def op_spawn(a, g):
    _reap()
    p = Proc(a)
    St.procs[p.pid] = p
    return {"pid": p.pid, "uid": p.uid}


def op_pinfo(a, g):
    p = _find(a)
    return {"pid": p.pid, "uid": p.uid, "sizes": p.sizes()}


def op_plist(a, g):
    _reap()
    return [p.info() for p in St.procs.values() if p.exit is None]


def op_input(a, g):
    p = _find(a)
    if p.fifo is None:
        raise Fault("failed_precondition", "process %d was started without stdin (pass stdin: true)" % p.pid)
    if p.close_stdin:
        raise Fault("failed_precondition", "stdin of process %d is closed" % p.pid)
    data = base64.b64decode(a.get("data") or "")
    if len(p.pending) + len(data) > MAX_PENDING_STDIN:
        raise Fault("resource_exhausted", "process %d is not reading its stdin" % p.pid)
    p.pending += data
    p.close_stdin = bool(a.get("close"))
    p.flush_stdin()
    return {}


def op_signal(a, g):
    p = _find(a)
    try:
        os.killpg(p.pid, a.get("signal") or signal.SIGKILL)
    except ProcessLookupError:
        pass
    return {}


def op_forget(a, g):
    p = St.procs.get(a.get("pid"))
    if p is not None and a.get("uid", p.uid) == p.uid and p.poll() is not None:
        del St.procs[p.pid]
        p.forget()
    return {}


def _read_new(p, i, off):
    data = os.pread(p.fds[i], TICK_BYTES, off) if off < os.fstat(p.fds[i]).st_size else b""
    return data


def op_tick(a, g):
    out = {}
    for p in St.procs.values():
        if p.pending or p.close_stdin:
            try:
                p.flush_stdin()
            except OSError:
                pass
        p.poll()
    for pid, oo, eo in a.get("p") or []:
        p = St.procs.get(pid)
        if p is None:
            out[str(pid)] = {"gone": True}
            continue
        ended = p.exit is not None
        o, e = _read_new(p, 0, oo), _read_new(p, 1, eo)
        r = {"o": _b64(o), "e": _b64(e), "oo": oo + len(o), "eo": eo + len(e)}
        if ended and r["oo"] >= os.fstat(p.fds[0]).st_size and r["eo"] >= os.fstat(p.fds[1]).st_size:
            r["x"] = p.exit
        out[str(pid)] = r
    events = {}
    if a.get("w"):
        if St.watch is not None:
            St.watch.drain()
        for wid in a["w"]:
            w = St.watch.watchers.get(wid) if St.watch is not None else None
            if w is None:
                events[wid] = {"gone": True}
                continue
            evs, w.events = w.events, []
            events[wid] = {"ev": evs, "overflow": w.overflow}
    return {"p": out, "w": events}
`;
