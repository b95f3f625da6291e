"""Linux primitives the keeper and the worlds use to build and enter per-world domains (docs/security.md).

Thin ctypes wrappers (Python 3.11 has no os.unshare/os.setns), the new mount API, capabilities and
securebits, and the seccomp filter with its user-notification interface. Stdlib only; x86_64 only (the
syscall numbers below are x86_64's; `supported()` says whether this machine can use them).
"""

import ctypes
import fcntl
import os
import platform
import socket
import struct

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NS_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
# What a tree's first world unshares: its own mount view, network, SysV IPC and hostname. A later newborn
# unshares the rest and joins a network namespace the keeper made ahead of time (NETNS_FD): making one
# costs ~0.5 ms, which a birth then does not wait for.
FIRST_FLAGS = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
BIRTH_FLAGS = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
NETNS_FD = 1001

NR = {
    "setuid": 105, "setreuid": 113, "setresuid": 117, "setfsuid": 122, "setfsgid": 123,
    "unshare": 272, "setns": 308, "clone": 56, "clone3": 435,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "open_tree_attr": 467,
    "reboot": 169, "swapon": 167, "swapoff": 168, "kexec_load": 246, "kexec_file_load": 320,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "bpf": 321, "perf_event_open": 298,
    "fanotify_init": 300, "open_by_handle_at": 304, "quotactl": 179, "quotactl_fd": 443,
    "keyctl": 250, "add_key": 248, "request_key": 249, "iopl": 172, "ioperm": 173, "syslog": 103,
    "acct": 163, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "lookup_dcookie": 212, "vhangup": 153, "userfaultfd": 323, "capset": 126, "seccomp": 317,
    "close_range": 436, "pidfd_open": 434,
}


def supported():
    """Whether per-world domains can be built here (the filter and numbers are x86_64's)."""
    return platform.machine() == "x86_64"


def _check(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def syscall(name, *args):
    return _check(_libc.syscall(NR[name], *args))


def unshare(flags):
    _check(_libc.unshare(flags))


def setns(fd, nstype):
    _check(_libc.setns(fd, nstype))


def close_range(first, last=0xFFFFFFFF):
    syscall("close_range", first, last, 0)


# ---------------------------------------------------------------- mounts

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_IDMAP = 0x100000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _b(s):
    return s if s is None or isinstance(s, bytes) else os.fsencode(s)


def mount(source, target, fstype=None, flags=0, data=None):
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)))


def umount(target, flags=MNT_DETACH):
    _check(_libc.umount2(_b(target), flags))


def pivot_root(new_root, put_old):
    syscall("pivot_root", _b(new_root), _b(put_old))


def clone_tree(path, recursive=False):
    """A detached copy of the mount at `path` (open_tree OPEN_TREE_CLONE): attach it anywhere with attach()."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return syscall("open_tree", AT_FDCWD, _b(path), flags)


def set_attrs(mount_fd, attrs, userns_fd=0, recursive=False):
    a = _MountAttr(attrs, 0, 0, userns_fd)
    syscall("mount_setattr", mount_fd, b"", AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0), ctypes.byref(a), ctypes.sizeof(a))


def new_fs(fstype, options, attrs=0):
    """A detached mount of a fresh filesystem (fsopen/fsconfig/fsmount), e.g. new_fs('tmpfs', {'size': '64m'})."""
    fs = syscall("fsopen", _b(fstype), FSOPEN_CLOEXEC)
    try:
        for key, value in options.items():
            if value is True:
                syscall("fsconfig", fs, FSCONFIG_SET_FLAG, _b(key), None, 0)
            else:
                syscall("fsconfig", fs, FSCONFIG_SET_STRING, _b(key), _b(str(value)), 0)
        syscall("fsconfig", fs, FSCONFIG_CMD_CREATE, None, None, 0)
        return syscall("fsmount", fs, FSMOUNT_CLOEXEC, attrs)
    finally:
        os.close(fs)


def attach(mount_fd, target):
    """Attach a detached mount (from clone_tree or new_fs) at `target` in the caller's mount namespace."""
    syscall("move_mount", mount_fd, b"", AT_FDCWD, _b(target), MOVE_MOUNT_F_EMPTY_PATH)


class entered:
    """`with entered(ns_fd, CLONE_NEWNS): ...` runs the block in another namespace and comes back.

    For mount namespaces setns() also resets the caller's root and cwd; both are restored on the way out.
    """

    def __init__(self, fd, nstype, own=None):
        self.fd, self.nstype = fd, nstype
        self.own = own

    def __enter__(self):
        kind = {CLONE_NEWNS: "mnt", CLONE_NEWNET: "net", CLONE_NEWUSER: "user"}[self.nstype]
        self.close_own = self.own is None
        if self.own is None:
            self.own = os.open("/proc/self/ns/" + kind, os.O_RDONLY | os.O_CLOEXEC)
        self.cwd = os.open(".", os.O_RDONLY | os.O_CLOEXEC) if self.nstype == CLONE_NEWNS else None
        setns(self.fd, self.nstype)
        return self

    def __exit__(self, *exc):
        setns(self.own, self.nstype)
        if self.cwd is not None:
            os.fchdir(self.cwd)
            os.close(self.cwd)
        if self.close_own:
            os.close(self.own)
        return False


# ---------------------------------------------------------------- network

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up():
    """Bring `lo` up in the caller's network namespace (a new one starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = bytearray(struct.pack("16sH22x", b"lo", 0))
        fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
        flags = struct.unpack_from("H", req, 16)[0] | IFF_UP
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, bytearray(struct.pack("16sH22x", b"lo", flags)))


# ---------------------------------------------------------------- capabilities

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_FOWNER = 3
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_SYS_ADMIN = 21
CAP_LAST = 63
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
# Caps survive uid changes (NO_SETUID_FIXUP), uid 0 gains nothing on exec (NOROOT), ambient caps cannot be
# raised; each with its lock bit so nothing in a world can turn them back.
SECURE_BITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 7)


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    return _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def keep_only(caps):
    """Drop every capability but `caps` from the bounding, permitted and effective sets."""
    for cap in range(CAP_LAST + 1):
        if cap not in caps:
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError:
                pass  # beyond this kernel's last capability
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = mask & 0xFFFFFFFF
    data[1].effective = data[1].permitted = mask >> 32
    syscall("capset", ctypes.byref(_CapHeader(0x20080522, 0)), data)


# ---------------------------------------------------------------- seccomp

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS = 0x80000000
RET_USER_NOTIF = 0x7FC00000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM = 1
ENOSYS = 38

# Changes of identity and namespace go to the keeper, which allows them only to a world being born.
NOTIFIED = ("setuid", "setreuid", "setresuid", "unshare", "setns")
# Worlds hold CAP_SYS_ADMIN and CAP_SETUID (their branches need them at birth); these are what those would
# otherwise reach: mounts, namespaces, fs uids, host-wide kernel facilities.
DENIED = (
    "setfsuid", "setfsgid", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_tree_attr", "reboot", "swapon", "swapoff",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "perf_event_open",
    "fanotify_init", "open_by_handle_at", "quotactl", "quotactl_fd", "keyctl", "add_key", "request_key", "iopl",
    "ioperm", "syslog", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "lookup_dcookie",
    "vhangup", "userfaultfd",
)
# clone() flags a world may not pass (new namespaces). CLONE_NEWTIME shares its bit with CSIGNAL in clone().
CLONE_DENIED_FLAGS = CLONE_NS_FLAGS


_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06


def filter_program():
    """The BPF program every world runs under (one filter per fork tree, inherited, never stacked)."""
    prog, labels = [], {}

    def emit(code, k, jt=0, jf=0):
        prog.append((code, k, jt, jf))

    emit(_LD_W_ABS, 4)  # seccomp_data.arch
    emit(_JEQ_K, AUDIT_ARCH_X86_64, 0, "kill")
    emit(_LD_W_ABS, 0)  # seccomp_data.nr
    emit(_JGE_K, X32_SYSCALL_BIT, "kill", 0)  # no other ABI is filtered: refuse it outright
    for name in NOTIFIED:
        emit(_JEQ_K, NR[name], "notify", 0)
    for name in DENIED:
        emit(_JEQ_K, NR[name], "eperm", 0)
    emit(_JEQ_K, NR["clone3"], "enosys", 0)  # glibc falls back to clone(), whose flags we can read
    emit(_JEQ_K, NR["clone"], 0, "allow")
    emit(_LD_W_ABS, 16)  # args[0], low 32 bits: clone flags
    emit(_JSET_K, CLONE_DENIED_FLAGS, "eperm", "allow")
    for name, ret in (("notify", RET_USER_NOTIF), ("eperm", RET_ERRNO | EPERM), ("enosys", RET_ERRNO | ENOSYS),
                      ("allow", RET_ALLOW), ("kill", RET_KILL_PROCESS)):
        labels[name] = len(prog)
        emit(_RET_K, ret)
    out = []
    for i, (code, k, jt, jf) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        out.append(struct.pack("HBBI", code, jt, jf, k))
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter():
    """Install the world filter on the calling process; returns the listener fd the keeper serves."""
    prog = filter_program()
    buf = ctypes.create_string_buffer(b"".join(prog))
    fprog = _SockFprog(len(prog), ctypes.addressof(buf))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    return syscall("seccomp", SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, ctypes.byref(fprog))


def filters_installed():
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Seccomp_filters:"):
                return int(line.split()[1])
    return 0


_NOTIF_SIZE = 80
_RESP_SIZE = 24
_ADDFD_SIZE = 24
NOTIF_RECV = (3 << 30) | (_NOTIF_SIZE << 16) | (ord("!") << 8) | 0
NOTIF_SEND = (3 << 30) | (_RESP_SIZE << 16) | (ord("!") << 8) | 1
NOTIF_ADDFD = (1 << 30) | (_ADDFD_SIZE << 16) | (ord("!") << 8) | 3
USER_NOTIF_FLAG_CONTINUE = 1
ADDFD_FLAG_SETFD = 1


class Notification:
    """One intercepted syscall of a world process, waiting for the keeper's answer."""

    __slots__ = ("id", "pid", "nr", "args")

    def __init__(self, raw):
        self.id, self.pid = struct.unpack_from("QI", raw, 0)
        self.nr = struct.unpack_from("i", raw, 16)[0]
        self.args = struct.unpack_from("6Q", raw, 32)

    @property
    def name(self):
        for name in NOTIFIED:
            if NR[name] == self.nr:
                return name
        return str(self.nr)


def receive(listener):
    """The next notification, or None when its process died before we read it."""
    raw = bytearray(_NOTIF_SIZE)
    try:
        fcntl.ioctl(listener, NOTIF_RECV, raw)
    except OSError as e:
        if e.errno in (2, 4):  # ENOENT: the caller is gone; EINTR
            return None
        raise
    return Notification(raw)


def listener_hung_up(listener):
    """True once no process uses the filter: the listener then reports POLLHUP for ever."""
    import select

    p = select.poll()
    p.register(listener, select.POLLIN)
    return any(ev & select.POLLHUP for _, ev in p.poll(0))


def respond(listener, notif, error=0, value=0, proceed=False):
    """Answer a notification: let the syscall run (`proceed`), or make it return `value` / fail with `error`."""
    resp = struct.pack("QqiI", notif.id, value, -error if error else 0, USER_NOTIF_FLAG_CONTINUE if proceed else 0)
    try:
        fcntl.ioctl(listener, NOTIF_SEND, bytearray(resp))
    except OSError as e:
        if e.errno != 2:  # ENOENT: the caller died meanwhile
            raise


def add_fd(listener, notif, fd, target_fd):
    """Put a copy of our `fd` into the notifying process as its `target_fd` (closing what was there)."""
    fcntl.ioctl(listener, NOTIF_ADDFD, bytearray(struct.pack("QIIII", notif.id, ADDFD_FLAG_SETFD, fd, target_fd, 0)))
