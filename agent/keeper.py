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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent  # noqa: E402
import children  # noqa: E402
import layers as layers_mod  # noqa: E402
import limits  # noqa: E402
import sandbox  # noqa: E402
import views  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A kill waits this long for worlds still being born from the killed one (they are born with its uid).
BIRTH_WAIT = 5.0
DEFERRED = object()  # a handler that will answer its request later
# A world making more refused identity or namespace changes than this is killed (it can only be probing).
MAX_REFUSED = 256


class Fault(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Domain:
    """One world, snapshot or spare: a uid, a layer, and (once born) its agent's pid."""

    __slots__ = ("id", "role", "uid", "token", "layer", "memory_mib", "disk_mib", "pid", "pidfd",
                 "ending", "refused", "registered", "mnt_ino", "home", "remount", "netns", "copying", "waiting")

    def __init__(self, birth, uid):
        self.id, self.role, self.token = birth["id"], birth["role"], birth["token"]
        self.memory_mib, self.disk_mib = birth.get("memoryMib") or 512, birth.get("diskMib")
        self.uid, self.layer = uid, birth["id"]
        self.pid = self.pidfd = self.mnt_ino = None
        self.ending = False
        self.refused = 0
        self.registered = 0
        self.home = None
        self.remount = False
        self.netns = False  # given a network namespace to join, not joined yet
        self.copying = None  # (request id, cp process, its pidfd) while its files are being copied
        self.waiting = None  # its setresuid() notification, answered once they are


def _ticks_now():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK)


def _proc_stat(pid):
    """(ppid, starttime in ticks) of a process in our pid namespace."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[19])


class Keeper:
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
        _set_oom_score(-1000)  # the tree's memory limit is shared with it: the OOM killer must pick a world
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
        # Every complete line that arrived, not one per wakeup: several requests often come in one read.
        # Never blocking: a handler earlier in the same wakeup may have drained it (`drain_host`).
        try:
            data = self.host.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if not data:
            self.shutdown()
        self.inbox += data
        self.handle_inbox()

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
            agent.first_world(sp_child, d.role, self.mode, d.uid, d.memory_mib, self.home_of(d))
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

    def op_prepare(self, req):
        """Make the layers, cgroups and uids of worlds about to be forked from `parent`, and expect them."""
        parent = self.domain(req["parent"])
        made = []
        try:
            for birth in req["births"]:
                d = self.new_domain(birth)
                made.append(d)
                if self.layers.background:
                    self.begin_copy(req.get("id"), parent, d)
                elif d.role == "snapshot":
                    self.layers.snapshot(parent.layer, d.layer)
                else:
                    self.layers.branch(parent.layer, d.layer, (d.disk_mib or 0) << 20)
                d.registered = _ticks_now()
        except BaseException:
            for d in made:
                self.release(d)
            raise
        if self.layers.kind == "overlay" and parent.role != "snapshot":
            # Its upper was just frozen under it. Once it has forked, the agent notes its open files, asks
            # for its fresh upper (unshare(0), below) and reopens them there: the fork request says
            # `refreshOwn`.
            parent.remount = True
        self.pending.setdefault(parent.pid, []).extend(made)
        if self.layers.background:
            self.copies[req.get("id")] = made
            return DEFERRED
        return self.prepared(made)

    def prepared(self, made):
        return {"births": [{"id": d.id, "uid": d.uid, "home": self.home_of(d)} for d in made]}

    def begin_copy(self, rid, parent, d):
        """Copy a birth's files in the background; `prepare` is answered when all its copies are done."""
        proc = self.layers.begin(parent.layer, d.layer)
        try:
            pidfd = sandbox.syscall("pidfd_open", proc.pid, 0)
        except BaseException:
            self.layers.abandon(d.layer, proc)
            raise
        d.copying = (rid, proc, pidfd)
        self.sel.register(pidfd, selectors.EVENT_READ, lambda: self.copied(rid))

    def end_copy(self, d):
        _, proc, pidfd = d.copying
        d.copying = None
        self.sel.unregister(pidfd)
        os.close(pidfd)
        return proc

    def copied(self, rid):
        """A copy of request `rid` ended: once all have, adopt them and answer, or fail them all."""
        made = [d for d in self.copies.get(rid, ()) if d.id in self.domains]
        if any(d.copying[1].poll() is None for d in made if d.copying):
            return
        self.copies.pop(rid, None)
        error = None
        for d in made:
            if d.copying:
                proc = self.end_copy(d)
                try:
                    self.layers.finish(d.layer, proc, d.role == "snapshot")
                except OSError as e:
                    error = error or str(e)
        if not made:
            error = "the worlds were ended before their files were copied"
        if error is not None:
            for d in made:
                if d.waiting is not None:
                    n, d.waiting = d.waiting, None
                    self.refuse(n)
                self.release(d)
            return self.send({"id": rid, "ok": False, "error": {"code": "LAYER", "message": error}})
        self.send({"id": rid, "ok": True, "result": self.prepared(made)})
        for d in made:
            if d.waiting is not None:
                n, d.waiting = d.waiting, None
                self.notified(self.on_setuid, n)

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

    # ------------------------------------------------------------ notifications

    def drain_host(self):
        """Handle requests already waiting on the host connection: a child's notification can overtake the
        `prepare` of its own birth, which the host sent first."""
        while True:
            try:
                data = self.host.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if not data:
                self.shutdown()
            self.inbox += data
            self.handle_inbox()

    def on_notification(self):
        n = sandbox.receive(self.listener)
        if n is not None and n.name == "setns":
            return self.on_setns(n)
        if n is None:
            if sandbox.listener_hung_up(self.listener):
                # No process of the tree runs under the filter any more; a new first world brings a new one.
                self.sel.unregister(self.listener)
                os.close(self.listener)
                self.listener = None
            return
        if n.name == "unshare":
            self.notified(self.on_unshare, n)
        elif n.name in ("setresuid", "setuid", "setreuid"):
            self.notified(self.on_setuid, n)
        else:
            self.refuse(n)

    def notified(self, handler, n):
        try:
            handler(n)
        except Exception as e:
            self.refuse(n)
            self.log("notification %s from %d failed: %s: %s" % (n.name, n.pid, type(e).__name__, e))

    def refuse(self, n):
        sandbox.respond(self.listener, n, error=1)
        d = self.owner_of(n.pid)
        if d is None or d.refused < 8:
            self.log("refused %s(%s) from pid %d (%s)" % (n.name, ", ".join("%#x" % (a & 0xFFFFFFFF) for a in n.args[:3]), n.pid, d.id if d else "not a world"))
        if d is not None:
            d.refused += 1
            if d.refused > MAX_REFUSED and not d.ending:
                self.end(d, "it made more than %d refused identity or namespace changes" % MAX_REFUSED)

    def owner_of(self, pid):
        d = self.by_pid.get(pid)
        if d is not None:
            return d
        try:
            with open("/proc/%d/status" % pid, "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[1]) - (self.base if self.mode == "world" else 0)
                        return next((x for x in self.domains.values() if x.uid == uid and x.pid), None)
        except OSError:
            return None
        return None

    def on_unshare(self, n):
        """Only a child its parent agent forked after we expected it may unshare, with the birth flags, once.

        unshare(0) from a world whose files were frozen under it (overlay) asks for its fresh mount.
        """
        flags = n.args[0] & 0xFFFFFFFF
        d = self.by_pid.get(n.pid)
        if flags == 0 and d is not None and not d.remount:
            self.drain_host()
        if flags == 0 and d is not None and d.remount:
            d.remount = False
            self.remount(d)
            return sandbox.respond(self.listener, n, proceed=True)
        if flags != sandbox.BIRTH_FLAGS or n.pid in self.newborns or d is not None:
            return self.refuse(n)
        ppid = self.expected_child(n.pid)
        if ppid is None:
            self.drain_host()
            ppid = self.expected_child(n.pid)
        if ppid is None or sum(1 for p in self.newborns.values() if p == ppid) >= len(self.pending.get(ppid, ())):
            return self.refuse(n)
        self.newborns[n.pid] = ppid
        sandbox.respond(self.listener, n, proceed=True)

    def on_setns(self, n):
        """A newborn joins the network namespace the keeper put at NETNS_FD, once; nothing else joins anything."""
        d = self.by_pid.get(n.pid)
        if d is None or not d.netns or n.args[0] & 0xFFFFFFFF != sandbox.NETNS_FD or n.args[1] & 0xFFFFFFFF != sandbox.CLONE_NEWNET:
            return self.refuse(n)
        d.netns = False
        sandbox.respond(self.listener, n, proceed=True)

    def expected_child(self, pid):
        """The parent pid of `pid` if that parent has births pending.

        A child of the parent that is already a world (a sibling) is refused by the caller (it is in
        `by_pid`); the only other children an agent has are processes its own world started, which belong
        to that world already: a birth is never handed across worlds. (The fork request and `prepare` travel
        side by side, so a newborn may be older than its registration: start times prove nothing here.)
        """
        try:
            ppid, _ = _proc_stat(pid)
        except OSError:
            return None
        return ppid if self.pending.get(ppid) else None

    def on_setuid(self, n):
        uid = n.args[0] & 0xFFFFFFFF
        others = n.args[1:2] if n.name == "setreuid" else n.args[1:3] if n.name == "setresuid" else ()
        if any((a & 0xFFFFFFFF) not in (uid, 0xFFFFFFFF) for a in others):
            return self.refuse(n)
        ppid = self.newborns.get(n.pid)
        if ppid is None and self.mode == "none":
            ppid = self.expected_child(n.pid)
        d = next((x for x in self.pending.get(ppid, ()) if x.uid == uid), None) if ppid is not None else None
        if d is None:
            return self.refuse(n)
        if d.copying is not None:
            d.waiting = n  # its files are still being copied: answered then (`copied`)
            return
        self.newborns.pop(n.pid, None)
        queue = self.pending[ppid]
        queue.remove(d)
        if not queue:
            del self.pending[ppid]
        try:
            self.setup(d, n, first=ppid == os.getpid())
        except Exception as e:
            import traceback

            self.log("setting up %s failed:\n%s" % (d.id, traceback.format_exc()))
            self.fail_birth(d, "%s: %s" % (type(e).__name__, e))
            return self.refuse(n)
        # A uid per world: the call runs. One shared uid: the child's uid is already right; answer 0.
        sandbox.respond(self.listener, n, proceed=self.mode == "world")
        if self.mode == "world":
            if len(self.settling) > 256:
                for parent in {p for p, _ in self.settling.values()}:
                    self.births_from(parent)  # drops the children that are through
            self.settling[n.pid] = (ppid, self.base + d.uid)

    def setup(self, d, n, first=False):
        """Give a newborn its own files, /tmp, /dev/shm, network and host connection.

        The tree's first world made its own network namespace (there was no maker yet): its loopback is
        brought up here; every later newborn is given a ready namespace to join at NETNS_FD."""
        pid = n.pid
        mnt = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY | os.O_CLOEXEC)
        if self.mode == "none":
            net = None
        elif first:
            net = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY | os.O_CLOEXEC)
        else:
            net = self.netns().take()
        idmap = None
        try:
            if self.mode != "none":
                files = tmp = merged = None
                if d.role != "snapshot":
                    files, tmp, merged = self.layers.mounts(d.layer)
                    if self.idmaps is not None:
                        idmap = self.idmaps.take(self.base + d.uid, self.base + agent.WORLD_GID)
                try:
                    views.attach_world(mnt, self.own_mnt, files, tmp, merged, idmap, d.memory_mib << 20)
                finally:
                    if merged is not None:
                        os.close(merged)
                if first:
                    views.net_up(net, self.own_net)
                    self.tree_userns = os.open("/proc/%d/ns/user" % pid, os.O_RDONLY | os.O_CLOEXEC)
                else:
                    sandbox.add_fd(self.listener, n, net, sandbox.NETNS_FD)
                    d.netns = True
                d.mnt_ino = os.fstat(mnt).st_ino
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.cfg["socket"])
                conn.sendall(json.dumps({"hello": d.token, "pid": pid, "role": d.role}).encode() + b"\n")
                sandbox.add_fd(self.listener, n, conn.fileno(), agent.CONTROL_FD)
            finally:
                conn.close()
        finally:
            os.close(mnt)
            if net is not None:
                os.close(net)
            if idmap is not None:
                os.close(idmap)
        d.pid = pid
        self.by_pid[pid] = d
        try:
            d.pidfd = sandbox.syscall("pidfd_open", pid, 0)
            self.sel.register(d.pidfd, selectors.EVENT_READ, lambda: self.on_exit(d))
        except OSError:
            d.pidfd = None

    def remount(self, d):
        files, tmp, merged = self.layers.mounts(d.layer)
        mnt = os.open("/proc/%d/ns/mnt" % d.pid, os.O_RDONLY | os.O_CLOEXEC)
        try:
            views.attach_world(mnt, self.own_mnt, files, tmp, merged, None, d.memory_mib << 20, keep_shm=True)
        finally:
            os.close(mnt)
            if merged is not None:
                os.close(merged)

    def fail_birth(self, d, reason):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.cfg["socket"])
                conn.sendall(json.dumps({"hello": d.token, "pid": 0, "role": "failed", "error": reason}).encode() + b"\n")
        except OSError:
            pass
        self.release(d)

    # ------------------------------------------------------------ ending

    def on_exit(self, d):
        """A world's agent died without being asked to: end the rest of it and tell the host why."""
        if d.ending:
            return
        reason = "its process exited unexpectedly"
        if self.cgroups:
            kills = self.cgroups.oom_kills()
            if kills > self.oom_seen:
                self.oom_seen = kills
                reason = "killed by the out-of-memory killer: its tree reached its memory limit (the sum of its worlds' memoryMib)"
        self.end(d, reason)

    def end(self, d, reason=None):
        d.ending = True
        self.kill_domain(d)
        if reason is not None:
            self.event("exit", id=d.id, reason=reason)
        self.release(d, keep_layer=True)

    def kill_domain(self, d):
        if d.pidfd is not None:
            self.sel.unregister(d.pidfd)
            os.close(d.pidfd)
            d.pidfd = None
        deadline = time.monotonic() + 5
        while True:
            self.kill_once(d)
            if d.pid:
                _wait_gone(d.pid, deadline)  # its agent first: then one scan is usually the last
            left = self.kill_once(d, check=True)
            if not left or time.monotonic() > deadline:
                return not left
            time.sleep(0.0005)

    def live_of_uid(self, kuid):
        """Whether a process of this uid is alive (zombies waiting to be reaped do not count).

        A stat of each /proc entry (its owner is the process's uid) is all most entries cost: this runs once
        or twice per destroy, in a tree that may hold a thousand snapshots."""
        with os.scandir("/proc") as entries:
            for e in entries:
                if not e.name.isdigit():
                    continue
                try:
                    if e.stat().st_uid != kuid:
                        continue
                    with open("/proc/%s/stat" % e.name, "rb") as f:
                        stat = f.read()
                except OSError:
                    continue
                if stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X"):
                    return True
        return False

    def kill_once(self, d, check=False):
        """SIGKILL every process of the domain; with `check`, True while any of them is still alive."""
        if self.mode == "world":
            # kill(-1) as the world's uid reaches exactly its processes, and no fork can slip past it.
            kuid = self.base + d.uid
            os.setresuid(kuid, kuid, 0)
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            finally:
                os.setresuid(0, 0, 0)
            return check and self.live_of_uid(kuid)
        left = self.tree_mode_left(d)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return bool(left)

    def tree_mode_left(self, d):
        """One shared uid: a world's processes are those in its mount namespace."""
        mine = d.mnt_ino
        if mine is None:
            return []
        left = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != os.getpid():
                try:
                    if os.stat("/proc/%s/ns/mnt" % name).st_ino == mine:
                        left.append(int(name))
                except OSError:
                    pass
        return left

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

    def op_kill(self, req):
        """End worlds. A world with children still being born (they have its uid until they take their
        own) is ended once they are, so a snapshot taken just before never dies with its source."""
        doms = [self.domains[i] for i in req["ids"] if i in self.domains]
        if any(self.births_from(d.pid) for d in doms if d.pid):
            self.deferred_kills.append((req, time.monotonic() + BIRTH_WAIT))
            return DEFERRED
        for d in doms:
            d.ending = True
            self.kill_domain(d)
            self.release(d, keep_layer=not req.get("drop"))
        return {}

    def births_from(self, pid):
        """Whether children of `pid` are being born: expected, or let into setresuid() but still of its uid."""
        if self.pending.get(pid):
            return True
        for child, (parent, kuid) in list(self.settling.items()):
            if parent != pid:
                continue
            try:
                with open("/proc/%d/status" % child, "rb") as f:
                    uid = int(f.read().split(b"Uid:", 1)[1].split()[0])
            except (OSError, IndexError, ValueError):
                uid = kuid  # gone: nothing to wait for
            if uid == kuid:
                del self.settling[child]
            else:
                return True
        return False

    def run_deferred_kills(self):
        waiting, self.deferred_kills = self.deferred_kills, []
        now = time.monotonic()
        for req, deadline in waiting:
            doms = [self.domains[i] for i in req["ids"] if i in self.domains]
            if now < deadline and any(self.births_from(d.pid) for d in doms if d.pid):
                self.deferred_kills.append((req, deadline))
                continue
            for d in doms:  # births that did not come in time fail
                for b in list(self.pending.pop(d.pid, [])) if d.pid else []:
                    self.fail_birth(b, "the world it was forked from was destroyed before it was born")
            self.handle(dict(req, op="kill"))

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
            timeout = 0.05 if busy else 1.0 if self.idmaps else None
            for key, _ in self.sel.select(timeout=timeout):
                key.data()
            if self.deferred_kills:
                self.run_deferred_kills()
            if flattening:
                self.layers.poll_flattening()
            if self.idmaps is not None:
                self.idmaps.refill()


def _wait_gone(pid, deadline):
    """Until `pid` is dead (a zombie counts as dead) or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            return
        if stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X"):
            return
        time.sleep(0.0002)


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
