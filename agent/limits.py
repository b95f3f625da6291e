"""Per-world limits and identities the keeper hands out (docs/security.md).

- `Cgroups`: the tree's cgroup v1 `memory` and `pids` groups, joined once by the keeper (see the class).
- `Idmaps`: user namespaces used only as id maps for idmapped mounts. Every world's files are stored on disk
  as one owner; each world sees them as its own uid through its mount, so a branch can write what its source
  wrote although each world runs as a different uid. Making one costs a fork, so a few are kept ready.
"""

import array
import os
import socket

import sandbox


class Cgroups:
    """The tree's cgroup v1 `memory` and `pids` groups, under the runtime's own (made by the host).

    One group per tree, not per world: moving a process between v1 groups waits for an RCU grace period
    (~6 ms here, measured), so the keeper joins its tree's groups once, when it starts, and what it forks is
    born inside. Its worlds' memory is one level lower, in `<tree>/worlds`, limited to the sum of the tree's
    worlds' `memoryMib`; the tree's own limit adds the keeper's overhead. So the OOM killer, which picks only
    inside the group whose limit was hit, can take worlds but never the keeper or its helpers (a score of
    -1000 would not do: it needs CAP_SYS_RESOURCE, and an OOM victim that has freed its pages but not yet
    the memfd it held lets the killer look past it to the next process). Only a tree's first worlds (spawns)
    move there, once, while the keeper builds their sandbox (`worlds_procs`); branches are forked from
    worlds and born inside. Each world's own processes are bounded by RLIMIT_NPROC (per uid) and RLIMIT_AS
    (per process) as well.
    """

    OVERHEAD = 64 << 20  # the keeper and its helpers
    PIDS_MAX = 16384

    def __init__(self, memory_root, pids_root, tree_id):
        self.dirs = {"memory": os.path.join(memory_root, tree_id), "pids": os.path.join(pids_root, tree_id)}
        self.worlds = os.path.join(self.dirs["memory"], "worlds")
        self.world_bytes = 0

    def enter(self):
        for d in (*self.dirs.values(), self.worlds):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.dirs["pids"], "pids.max"), "w") as f:
            f.write(str(self.PIDS_MAX))
        self.set_total(0)
        for d in self.dirs.values():
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def worlds_procs(self):
        """An fd on the worlds' memory group's `cgroup.procs`, for a first world to join it by writing "0".

        Opened while the world is still host root in the host's views, written once it has told the keeper it
        is started: the move waits ~6 ms (an RCU grace period), meanwhile the keeper builds its sandbox. The
        write is checked against the opener's credentials, so it works from the new user namespace too."""
        return os.open(os.path.join(self.worlds, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)

    def set_total(self, world_bytes):
        """Allow the tree's worlds `world_bytes`, the tree that plus the keeper's overhead; a limit is never
        set below what its group already uses (pages a destroyed world shared with a snapshot)."""
        pairs = [(self.dirs["memory"], world_bytes + self.OVERHEAD), (self.worlds, max(world_bytes, 1 << 20))]
        if world_bytes < self.world_bytes:
            pairs.reverse()  # the tree's limit is raised before its worlds', lowered after
        for path, value in pairs:
            try:
                with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
                    f.write(str(value))
            except OSError:
                pass  # more is in use than that: keep the old limit
        self.world_bytes = world_bytes

    def oom_kills(self):
        """Processes the OOM killer ended in the tree (v1 counts each kill in the victim's own group)."""
        kills = 0
        for d in (self.dirs["memory"], self.worlds):
            try:
                with open(os.path.join(d, "memory.oom_control"), "rb") as f:
                    for line in f:
                        if line.startswith(b"oom_kill "):
                            kills += int(line.split()[1])
            except OSError:
                pass
        return kills

    def memory_used(self):
        try:
            with open(os.path.join(self.dirs["memory"], "memory.usage_in_bytes"), "rb") as f:
                return int(f.read())
        except OSError:
            return None


class Netns:
    """A helper that makes network namespaces (loopback up) ahead of births, on the other core.

    It runs in the tree's user namespace (so worlds, which hold CAP_SYS_ADMIN there, may join what it makes)
    and hands each namespace over as an fd; the keeper keeps a few ready.
    """

    def __init__(self, userns_fd=None, ready=4):
        self.ready, self.fds, self.asked = ready, [], 0
        self.sock, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                self.sock.close()
                if userns_fd is not None:
                    sandbox.setns(userns_fd, sandbox.CLONE_NEWUSER)
                sandbox.close_range(3, child.fileno() - 1)
                sandbox.close_range(child.fileno() + 1)
                while child.recv(1):
                    sandbox.unshare(sandbox.CLONE_NEWNET)
                    sandbox.loopback_up()
                    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
                    socket.send_fds(child, [b"n"], [fd])
                    os.close(fd)
            finally:
                os._exit(0)
        child.close()
        self.pid = pid
        self.refill()

    def refill(self):
        want = self.ready - len(self.fds) - self.asked
        if want > 0:
            self.sock.sendall(b"n" * want)
            self.asked += want

    def on_ready(self, wait=False):
        # The selector's wakeup may be stale: `take` can have received this namespace already.
        try:
            msg, fds = _recv_fd(self.sock, 0 if wait else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if not msg:
            raise OSError("the network-namespace helper %d exited" % self.pid)
        self.asked -= 1
        self.fds.extend(fds)

    def close(self):
        self.sock.close()
        for fd in self.fds:
            os.close(fd)
        self.fds = []  # the helper sees end-of-file and exits; the keeper's SIGCHLD handler reaps it

    def take(self):
        """A ready namespace (the caller closes it), waiting for the next one if none is; asks for more."""
        if not self.fds:
            self.refill()
            self.on_ready(wait=True)
        fd = self.fds.pop(0)
        self.refill()
        return fd


def _recv_fd(sock, flags):
    """One byte and the fd sent with it. Not socket.recv_fds: Python 3.11's drops its `flags`, so a
    MSG_DONTWAIT read of a stale wakeup blocks the keeper (for good, if nothing more is coming)."""
    msg, ancdata, _, _ = sock.recvmsg(1, socket.CMSG_LEN(array.array("i").itemsize), flags)
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


class Idmaps:
    """Ready-made id-map namespaces: `take(outside_uid)` gives an fd of a user namespace mapping `owner` to it."""

    def __init__(self, owner, group, ready=3):
        self.owner, self.group, self.ready = owner, group, ready
        self.blank = []  # (pid, read_fd, write_fd): children waiting in a fresh, unmapped user namespace

    def _start_one(self):
        r, w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                # Only our two pipe ends: a copy of another helper's pipe held here would keep it waiting.
                os.dup2(w, 3)
                os.dup2(go_r, 4)
                sandbox.close_range(5)
                sandbox.unshare(sandbox.CLONE_NEWUSER)
                os.write(3, b"u")
                os.read(4, 1)  # until the keeper has written our map and opened the namespace
            finally:
                os._exit(0)
        os.close(w)
        os.close(go_r)
        self.blank.append((pid, r, go_w))

    def short(self):
        return len(self.blank) < self.ready

    def refill(self):
        while len(self.blank) < self.ready:
            self._start_one()

    def take(self, uid, gid):
        if not self.blank:
            self._start_one()
        pid, r, go = self.blank.pop(0)
        try:
            if os.read(r, 1) != b"u":
                raise OSError("id-map helper %d died before its namespace was ready" % pid)
            with open("/proc/%d/uid_map" % pid, "w") as f:
                f.write("%d %d 1\n" % (self.owner, uid))
            with open("/proc/%d/setgroups" % pid, "w") as f:
                f.write("deny")
            with open("/proc/%d/gid_map" % pid, "w") as f:
                f.write("%d %d 1\n" % (self.group, gid))
            return os.open("/proc/%d/ns/user" % pid, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(r)
            os.close(go)  # the helper exits; the keeper, pid 1 of the tree, reaps it
