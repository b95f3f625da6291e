"""The mount view of a world, built by the keeper from outside (docs/security.md, "What a world sees").

A tree's first world gets a new root: a read-only tmpfs holding read-only, nosuid binds of /usr and a few
files of /etc, its own /proc (processes of other worlds hidden), a minimal /dev, and mount points for its
own /world (files), /tmp and /dev/shm. Every later world of the tree starts from a copy of its parent's view
and the keeper swaps those three mounts for its own. Worlds cannot mount anything themselves (the seccomp
filter refuses it), so what the keeper attaches is all they ever reach.
"""

import os

import sandbox

# Host paths shown read-only, when present: enough for Python and a shell.
RO_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts")
RO_DIRS = ("/etc/alternatives", "/etc/ssl")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
# glibc reads this to honour malloc.hugetlb=1; without it, worlds never get huge pages (forks copy more).
THP_DIR = "/sys/kernel/mm/transparent_hugepage"
STAGE = "/tmp"  # where the new root is assembled inside the child's copy of the keeper's view

RO = sandbox.MOUNT_ATTR_RDONLY | sandbox.MOUNT_ATTR_NOSUID | sandbox.MOUNT_ATTR_NODEV


def _bind_ro(src, dst, recursive=True):
    fd = sandbox.clone_tree(src, recursive=recursive)
    try:
        sandbox.set_attrs(fd, RO, recursive=recursive)
        sandbox.attach(fd, dst)
    finally:
        os.close(fd)


def _touch(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def build_root(mnt_fd, extra_ro=()):
    """In the namespace `mnt_fd` (a new mount namespace of a fresh child): make and enter its new root."""
    with sandbox.entered(mnt_fd, sandbox.CLONE_NEWNS):
        sandbox.mount(None, "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE)
        # Take every source first: once the new root is staged, paths under STAGE are shadowed.
        sources = [("/usr", "usr", True)]
        links = []
        for top in ("bin", "sbin", "lib", "lib64", "lib32"):
            if os.path.islink("/" + top):
                links.append((os.readlink("/" + top), top))
            elif os.path.isdir("/" + top):
                sources.append(("/" + top, top, True))
        sources += [(f, f[1:], False) for f in RO_FILES if os.path.isfile(f)]
        sources += [(d, d[1:], True) for d in RO_DIRS + tuple(extra_ro) + (THP_DIR,) if os.path.isdir(d)]
        nodes = [n for n in DEV_NODES if os.path.exists("/dev/" + n)]
        fds = []
        try:
            for src, dst, is_dir in sources:
                fd = sandbox.clone_tree(src, recursive=is_dir)
                sandbox.set_attrs(fd, RO, recursive=is_dir)
                fds.append((fd, dst, is_dir))
            node_fds = [(sandbox.clone_tree("/dev/" + n), "dev/" + n, False) for n in nodes]
            sandbox.mount("tmpfs", STAGE, "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NODEV, "size=1m,mode=0755")
            os.chdir(STAGE)
            for d in ("usr", "etc", "proc", "dev", "world", "tmp", "old"):
                os.mkdir(d, 0o755)
            os.chmod("tmp", 0o1777)
            for target, name in links:
                os.symlink(target, name)
            for fd, dst, is_dir in fds:
                if is_dir:
                    os.makedirs(dst, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    _touch(dst)
                sandbox.attach(fd, dst)
            # Other worlds' processes are invisible (hidepid) and /proc/sys cannot be written.
            sandbox.mount("proc", "proc", "proc", sandbox.MS_NOSUID | sandbox.MS_NODEV | sandbox.MS_NOEXEC, "hidepid=invisible")
            _bind_ro("proc/sys", "proc/sys")
            sandbox.mount("tmpfs", "dev", "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NOEXEC, "size=64k,mode=0755")
            for fd, dst, _ in node_fds:
                _touch(dst)
                sandbox.attach(fd, dst)
            os.mkdir("dev/shm", 0o1777)
            os.chmod("dev/shm", 0o1777)
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                                 ("stderr", "/proc/self/fd/2")):
                os.symlink(target, "dev/" + name)
        finally:
            for fd, _, _ in fds + locals().get("node_fds", []):
                os.close(fd)
        sandbox.pivot_root(".", "old")
        os.chdir("/")
        sandbox.umount("/old")
        os.rmdir("/old")
        sandbox.mount(None, "/dev", None, sandbox.MS_REMOUNT | sandbox.MS_BIND | sandbox.MS_RDONLY | sandbox.MS_NOSUID | sandbox.MS_NOEXEC)
        sandbox.mount(None, "/", None, sandbox.MS_REMOUNT | sandbox.MS_RDONLY | sandbox.MS_NOSUID | sandbox.MS_NODEV)


def _detach(path):
    try:
        sandbox.umount(path)
    except OSError:
        pass  # nothing mounted there yet


def _clone_sub(merged, sub, idmap):
    """A detached bind of `sub`: a host path, or (with `merged`, an overlay mount fd) a path inside it."""
    if merged is not None:
        fd = sandbox.syscall("open_tree", merged, os.fsencode(sub), sandbox.OPEN_TREE_CLONE | sandbox.OPEN_TREE_CLOEXEC)
    else:
        fd = sandbox.clone_tree(sub)
    attrs = sandbox.MOUNT_ATTR_NOSUID | sandbox.MOUNT_ATTR_NODEV
    if idmap is not None:
        attrs |= sandbox.MOUNT_ATTR_IDMAP
    sandbox.set_attrs(fd, attrs, userns_fd=idmap or 0)
    return fd


def attach_world(mnt_fd, own_mnt_fd, files, tmp, merged, idmap, shm_bytes, keep_shm=False):
    """Swap the view's /world, /tmp and /dev/shm for a world's own (files=None: detach them only).

    `keep_shm`: a running world whose files are remounted under it keeps its /dev/shm.
    """
    prepared = []
    try:
        if files is not None:
            prepared = [(_clone_sub(merged, files, idmap), "/world"), (_clone_sub(merged, tmp, idmap), "/tmp")]
            if not keep_shm:
                shm = sandbox.new_fs("tmpfs", {"size": shm_bytes, "mode": "1777"}, sandbox.MOUNT_ATTR_NOSUID | sandbox.MOUNT_ATTR_NODEV)
                prepared.append((shm, "/dev/shm"))
        with sandbox.entered(mnt_fd, sandbox.CLONE_NEWNS, own=own_mnt_fd):
            for path in ("/world", "/tmp") + (() if keep_shm else ("/dev/shm",)):
                _detach(path)
            for fd, path in prepared:
                sandbox.attach(fd, path)
    finally:
        for fd, _ in prepared:
            os.close(fd)


def net_up(net_fd, own_net_fd):
    with sandbox.entered(net_fd, sandbox.CLONE_NEWNET, own=own_net_fd):
        sandbox.loopback_up()
