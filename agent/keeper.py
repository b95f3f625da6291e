"""world-runtime keeper: the trusted root of one fork tree (docs/security.md, agent/PROTOCOL.md).

Started by the host as pid 1 of the tree's own pid namespace, it never runs user code. It
  - forks the tree's first world and gives it its root view, user namespace and seccomp filter;
  - answers the filter's notifications: a world being born may unshare its namespaces and take the uid the
    keeper assigned it, once; nothing else may. While a newborn waits in that call, the keeper swaps its
    /world, /tmp and /dev/shm for its own, brings up its network and puts its own host connection
    into it (SECCOMP_IOCTL_NOTIF_ADDFD): no world ever sees a socket path or another world's channel;
  - ends worlds: every process of the world's uid (kill(-1) as that uid is atomic against forks);
  - makes and removes the layers that hold worlds' files (layers.py).

    python3 -I -S keeper.py --runtime RUNTIME_ID   (its configuration, JSON, on stdin)
"""

import json
import os
import selectors
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent  # noqa: E402
from births import Births  # noqa: E402
import children  # noqa: E402
from domains import DEFERRED, Domain, Fault  # noqa: E402
from ending import Ending  # noqa: E402
import layers as layers_mod  # noqa: E402
import limits  # noqa: E402
import sandbox  # noqa: E402
import views  # noqa: E402


class Keeper(Births, Ending):
    def __init__(self, cfg):
        self.cfg = cfg
        self.mode = cfg["mode"]  # 'world': a uid per world (root); 'tree': one shared uid
        self.base = cfg.get("uidBase", 0)
        self.owner = cfg.get("fileOwner", 0)  # on-disk owner of every world file (host uid)
        self.group = cfg.get("fileGroup", 0)
        self.next_uid = agent.FIRST_WORLD_UID
        self.free_uids = []
        self.domains = {}
        self.by_pid = {}
        self.pending = {}  # parent pid -> [Domain] waiting to be born from it
        self.copies = {}  # prepare request id -> [Domain] whose files are being copied (copy backend)
        self.newborns = {}  # pid -> parent pid: children that unshared and have yet to take their uid
        self.deferred_kills = []  # (request, deadline)
        self.netns_maker = None
        self.tree_userns = None  # the tree's user namespace, from its first world
        self.settling = {}  # pid -> (parent pid, host uid): let into setresuid(), maybe not yet through it
        self.listener = None
        self.sel = selectors.DefaultSelector()
        self.own_mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.own_net = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fs = cfg["fs"]
        if fs["kind"] == "btrfs":
            self.layers = layers_mod.BtrfsLayers(fs["root"], self.owner, self.group, fs.get("quotas"))
        elif fs["kind"] == "overlay":
            self.layers = layers_mod.OverlayLayers(fs["root"], self.owner, self.group, userxattr=cfg.get("userns", False))
        else:
            self.layers = layers_mod.CopyLayers(fs["root"], self.owner, self.group)
        cg = cfg.get("cgroups")
        self.cgroups = limits.Cgroups(cg["memory"], cg["pids"], cfg["tree"]) if cg else None
        if self.cgroups:
            self.cgroups.enter()  # before anything is forked: every process of the tree is born inside
        _set_oom_score(-1000)  # where allowed; limits.Cgroups keeps the OOM killer of worlds away from it anyway
        self.oom_seen = 0
        self.idmaps = limits.Idmaps(self.owner, self.group) if self.mode == "world" else None
        self.host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.host.connect(cfg["socket"])
        self.inbox = bytearray()
        self.send({"hello": cfg["token"], "pid": os.getpid(), "role": "keeper"})
        self.sel.register(self.host, selectors.EVENT_READ, self.on_host)

    # ------------------------------------------------------------ host channel

    def send(self, msg):
        self.host.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def on_host(self):
        """Handle every complete line that arrived; whether anything had. Several requests often come in one
        read. Never blocking: a handler earlier in the same wakeup may have drained it (`drain_host`)."""
        try:
            data = self.host.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if not data:
            self.shutdown()
        self.inbox += data
        self.handle_inbox()
        return True

    def handle_inbox(self):
        while True:
            nl = self.inbox.find(b"\n")
            if nl < 0:
                return
            line = bytes(self.inbox[:nl])
            del self.inbox[: nl + 1]
            self.handle(json.loads(line))

    def handle(self, req):
        rid = req.get("id")
        try:
            handler = getattr(self, "op_" + str(req.get("op")), None)
            if handler is None:
                raise Fault("BAD_OP", "unknown keeper operation %r" % req.get("op"))
            result = handler(req)
            if result is not DEFERRED:
                self.send({"id": rid, "ok": True, "result": result or {}})
        except Fault as e:
            self.send({"id": rid, "ok": False, "error": {"code": e.code, "message": str(e)}})
        except Exception as e:  # the keeper must never die of a request
            self.send({"id": rid, "ok": False, "error": {"code": "KEEPER", "message": "%s: %s" % (type(e).__name__, e)}})

    def event(self, name, **fields):
        fields["event"] = name
        self.send(fields)

    # ------------------------------------------------------------ domains

    def allocate_uid(self):
        # With one shared uid these are only birth tickets: the number a newborn names to claim its birth.
        if self.free_uids:
            return self.free_uids.pop()
        uid = self.next_uid
        if uid >= self.cfg.get("uidCount", 65536):
            raise Fault("CAPACITY", "this tree has used every uid of its range")
        self.next_uid += 1
        return uid

    def new_domain(self, birth):
        if birth["id"] in self.domains:
            raise Fault("EXISTS", "domain %s exists" % birth["id"])
        d = Domain(birth, birth["uid"] if birth.get("uid") is not None else self.allocate_uid())
        self.domains[d.id] = d
        self.memory_total()
        return d

    def memory_total(self):
        if self.cgroups:
            self.cgroups.set_total(sum(d.memory_mib for d in self.domains.values()) << 20)

    def op_spawn(self, req):
        """Fork the tree's first world (or the spare a later create takes) and give it its sandbox."""
        d = self.new_domain(req["birth"])
        self.layers.new(d.layer, (d.disk_mib or 0) << 20)
        sp_keeper, sp_child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            sp_keeper.close()
            agent.first_world(sp_child, d.role, self.mode, d.uid, d.memory_mib, self.home_of(d), self.cgroups)
            os._exit(1)  # not reached
        sp_child.close()
        try:
            self.first_birth(d, pid, sp_keeper)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            raise
        finally:
            sp_keeper.close()
        return {"pid": pid, "uid": d.uid}

    def first_birth(self, d, pid, sp):
        sp.settimeout(10)
        if sp.recv(1) != b"u":
            raise Fault("BIRTH", "the first world did not start")
        if self.mode == "world":
            # Its user namespace maps the tree's uid range to the runtime's unprivileged host range.
            for name in ("uid_map", "gid_map"):
                with open("/proc/%d/%s" % (pid, name), "w") as f:
                    f.write("0 %d %d\n" % (self.base, self.cfg.get("uidCount", 65536)))
        if self.mode != "none":
            mnt = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY | os.O_CLOEXEC)
            try:
                views.build_root(mnt, self.cfg.get("extraRo", []))
            finally:
                os.close(mnt)
        self.pending.setdefault(os.getpid(), []).append(d)
        if self.mode != "none":
            self.newborns[pid] = os.getpid()
        sp.sendall(b"g")
        _, fds, _, _ = socket.recv_fds(sp, 1, 1)
        if not fds:
            raise Fault("BIRTH", "the first world sent no seccomp listener")
        if self.listener is None:
            self.listener = fds[0]
            self.sel.register(self.listener, selectors.EVENT_READ, self.on_notification)
        else:
            os.close(fds[0])

    def netns(self):
        """The tree's network-namespace maker, started with its first world (it needs the tree's user ns)."""
        if self.netns_maker is None:
            self.netns_maker = limits.Netns(self.tree_userns if self.mode == "world" else None)
            self.sel.register(self.netns_maker.sock, selectors.EVENT_READ, self.on_netns_ready)
        return self.netns_maker

    def on_netns_ready(self):
        try:
            self.netns_maker.on_ready()
        except OSError as e:
            # The next birth starts a new helper; this one's births fail on their own.
            self.log("%s; starting another" % e)
            self.sel.unregister(self.netns_maker.sock)
            self.netns_maker.close()
            self.netns_maker = None

    def home_of(self, d):
        """Where a world finds its files: /world in its own view, or (no sandbox) the layer's own folder."""
        if self.mode != "none":
            return "/world"
        files = self.layers.mounts(d.layer)[0] if d.role != "snapshot" else None
        return files

    def domain(self, did):
        d = self.domains.get(did)
        if d is None:
            raise Fault("NO_DOMAIN", "no world or snapshot %r in this tree" % did)
        return d

    def release(self, d, keep_layer=False):
        self.domains.pop(d.id, None)
        if d.pid is not None:
            self.by_pid.pop(d.pid, None)
            self.newborns.pop(d.pid, None)
        for q in self.pending.values():
            if d in q:
                q.remove(d)
        if d.copying is not None:
            rid = d.copying[0]
            self.layers.abandon(d.layer, self.end_copy(d))
            if rid in self.copies:
                self.copied(rid)  # the request is answered even when all its births were ended
        if d.waiting is not None:
            n, d.waiting = d.waiting, None
            if self.listener is not None:
                sandbox.respond(self.listener, n, error=1)
        self.memory_total()
        if d.uid >= agent.FIRST_WORLD_UID:
            self.free_uids.append(d.uid)
        if not keep_layer:
            self.layers.drop(d.layer)

    def op_drop(self, req):
        for lid in req["ids"]:
            self.layers.drop(lid)
        return {}

    def op_signal(self, req):
        d = self.domains.get(req["world"])
        if d is None or d.pid is None:
            return {"sent": False}
        try:
            os.kill(d.pid, getattr(signal, req["signal"]))
            return {"sent": True}
        except ProcessLookupError:
            return {"sent": False}

    def op_limits(self, req):
        d = self.domain(req["world"])
        if req.get("memoryMib"):
            d.memory_mib = req["memoryMib"]
            self.memory_total()
        if req.get("diskMib"):
            d.disk_mib = req["diskMib"]
            self.layers.limit(d.layer, d.disk_mib << 20)
        return {}

    def op_usage(self, req):
        out = {}
        for did in req["ids"]:
            d = self.domains.get(did)
            out[did] = {"disk": self.layers.usage(did) if d else None, "memory": _rss(d.pid) if d and d.pid else None}
        return {"usage": out}

    def op_ping(self, req):
        return {"pid": os.getpid(), "mode": self.mode, "fs": self.layers.kind}

    def op_exit(self, req):
        self.shutdown(reply_to=req.get("id"))

    def shutdown(self, reply_to=None):
        for d in list(self.domains.values()):
            d.ending = True
            try:
                self.kill_domain(d)
            except Exception:
                pass
            try:
                self.release(d)
            except Exception:
                pass
        for lid in list(self.layers.layers):  # layers of worlds that ended before (a failed world keeps its own)
            try:
                self.layers.drop(lid)
            except Exception:
                pass
        if reply_to is not None:
            try:
                self.send({"id": reply_to, "ok": True, "result": {}})
            except OSError:
                pass
        os._exit(0)

    def log(self, msg):
        try:
            os.write(2, ("world-runtime keeper: %s\n" % msg).encode())
        except OSError:
            pass

    # ------------------------------------------------------------ loop

    def serve(self):
        if self.idmaps is not None:
            self.idmaps.refill()
        flattening = getattr(self.layers, "flattening", None)
        while True:
            busy = self.deferred_kills or flattening
            # Id-map helpers (a fork, ~1 ms) and btrfs layers for branches (a commit, ~2 ms) are made ahead
            # only once the keeper has been idle a moment: a newborn must not wait behind them.
            short = self.idmaps is not None and self.idmaps.short()
            ahead = short or (self.layers.kind == "btrfs" and self.layers.wants_ready())
            timeout = 0.05 if busy else 0.005 if ahead else 1.0 if self.idmaps else None
            events = self.sel.select(timeout=timeout)
            for key, _ in events:
                key.data()
            if self.deferred_kills:
                self.run_deferred_kills()
            if flattening:
                self.layers.poll_flattening()
            if ahead and not events:
                self.work_ahead(short)

    def work_ahead(self, short):
        """One piece of what births will need, made while nothing waits on the keeper."""
        try:
            if short:
                self.idmaps.refill()
            elif self.layers.kind == "btrfs" and self.layers.wants_ready():
                self.layers.make_ready()
        except OSError as e:
            self.log("making ahead failed: %s" % e)  # a birth makes its own then


def _set_oom_score(value):
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError:
        pass  # not root on the host: the keeper takes its chances like any process


def _rss(pid):
    """Resident bytes of a world's agent (its own pages and those it shares with its source)."""
    try:
        with open("/proc/%d/statm" % pid, "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def main():
    # argv names only the runtime (so its processes can be found); the rest comes on stdin, off `ps`.
    cfg = json.loads(sys.stdin.buffer.read())
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGCHLD, children.reap)
    signal.siginterrupt(signal.SIGCHLD, False)  # SA_RESTART: a reaped helper must not fail an ioctl or setns
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sandbox.prctl(sandbox.PR_SET_CHILD_SUBREAPER, 1)
    Keeper(cfg).serve()


if __name__ == "__main__":
    main()
