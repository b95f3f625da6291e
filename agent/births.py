"""How a world is born in a fork tree (docs/security.md, "Births"): the keeper's `prepare`, and its answers to
the seccomp notifications of a newborn (unshare once, take its uid once) while it gives the newborn its own
files, network and host connection. A mixin of `keeper.Keeper`, whose state it shares."""

import json
import os
import selectors
import socket
import traceback

import agent
import sandbox
import views
from domains import DEFERRED, MAX_REFUSED, proc_stat, ticks_now


class Births:
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
                d.registered = ticks_now()
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


    # ------------------------------------------------------------ notifications

    def drain_host(self):
        """Handle requests already waiting on the host connection: a child's notification can overtake the
        `prepare` of its own birth, which the host sent first."""
        while self.on_host():
            pass

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
            ppid, _ = proc_stat(pid)
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
