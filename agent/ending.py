"""How worlds end in a fork tree: every process of the world's uid, atomically against forks, and nothing else;
a world with children still being born is ended once they are. A mixin of `keeper.Keeper`."""

import os
import signal
import time

from domains import BIRTH_WAIT, DEFERRED, wait_gone


class Ending:
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
                wait_gone(d.pid, deadline)  # its agent first: then one scan is usually the last
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
