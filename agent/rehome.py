"""What a forked world inherits from its parent, made its own (docs/security.md, "Inherited handles").

fork() copies a process's memory but shares its open files and MAP_SHARED mappings with the parent: through
them a branch could write into its snapshot's or source's files or memory. A world being born therefore
  - reopens, on its own copy of the files, every handle its parent held under /world or /tmp (same path,
    flags and position), and closes every other handle that could reach outside it (sockets, pipes, /proc
    entries, shared memory, ...); read-only host files and /dev/null-like devices are kept;
  - replaces every shared mapping with one of its own holding the same bytes (a file under /world is
    mapped from its own copy).
A snapshot does the first half at its birth (it records its parent's handles and closes them; its memory
stays frozen with private copies of shared mappings) so that each branch of it starts from the same table.
"""

import ctypes
import mmap
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

OWN = ("/world", "/tmp")
KEPT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
HOST_READONLY = ("/usr/", "/etc/", "/lib/", "/lib64/", "/bin/", "/sbin/")
_REOPEN_DROP = os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_NOCTTY
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED = 0x10


def _own(path):
    return any(path == p or path.startswith(p + "/") for p in OWN)


def _fdinfo(fd):
    pos = flags = 0
    with open("/proc/self/fdinfo/%d" % fd, "rb") as f:
        for line in f:
            if line.startswith(b"pos:"):
                pos = int(line.split()[1])
            elif line.startswith(b"flags:"):
                flags = int(line.split()[1], 8)
    return pos, flags


def _handles(keep):
    """(fd, path) of each of this process's open handles but `keep`."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep:
            continue
        try:
            yield fd, os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue  # the directory listing's own handle, already closed


def take_handles(keep):
    """Close every inherited handle but `keep` and safe ones; return the table of those to reopen."""
    table = []
    for fd, path in _handles(keep):
        try:
            pos, flags = _fdinfo(fd)
        except OSError:
            continue
        readonly = (flags & os.O_ACCMODE) == os.O_RDONLY
        if path in KEPT_DEVICES or (readonly and path.startswith(HOST_READONLY)):
            continue
        if _own(path) and not path.endswith(" (deleted)"):
            table.append((fd, path, pos, flags))
        os.close(fd)
    return table


def reopen(table):
    """Open each recorded handle again, on this world's own files, at the same number and position."""
    for fd, path, pos, flags in table:
        try:
            new = os.open(path, (flags & ~_REOPEN_DROP) | os.O_NOFOLLOW)
        except OSError:
            continue  # gone or changed since: the handle is not carried over
        if new != fd:
            os.dup2(new, fd, inheritable=not flags & os.O_CLOEXEC)
            os.close(new)
        try:
            os.lseek(fd, pos, os.SEEK_SET)
        except OSError:
            pass


def own_handles(keep):
    """This process's handles on its own files (/world, /tmp), for `reopen` after its files are remounted."""
    table = []
    for fd, path in _handles(keep):
        if not _own(path) or path.endswith(" (deleted)"):
            continue
        try:
            table.append((fd, path) + _fdinfo(fd))
        except OSError:
            continue
    return table


def own_file_maps():
    return [m for m in _shared_maps() if _own(m[4]) and not m[4].endswith(" (deleted)")]


def remap_files(maps):
    """Map each recorded shared file mapping again, from the file now at its path."""
    for addr, length, perms, offset, path in maps:
        _map_own_file(addr, length, perms, offset, path)


def shared_maps():
    """This process's shared mappings: (address, length, perms, offset, path)."""
    return _shared_maps()


def _shared_maps():
    out = []
    with open("/proc/self/maps", "rb") as f:
        for line in f:
            parts = line.split(None, 5)
            perms = parts[1].decode()
            if perms[3] != "s":
                continue
            lo, hi = (int(x, 16) for x in parts[0].split(b"-"))
            path = parts[5].strip().decode("utf-8", "replace") if len(parts) > 5 else ""
            if _readonly_host_file(perms, parts[3], int(parts[4]), path):
                continue
            out.append((lo, hi - lo, perms, int(parts[2], 16), path))
    return out


def _readonly_host_file(perms, dev, ino, path):
    """A read-only shared mapping of a host file that no world can write (glibc maps its gconv cache so):
    the path names that very file (device and inode), on a read-only mount, so no handle that could have
    made the mapping writable exists in any world. Sharing such pages carries nothing between worlds."""
    if "w" in perms or not path.startswith(HOST_READONLY) or path.endswith(" (deleted)"):
        return False
    try:
        st, fs = os.stat(path), os.statvfs(path)
    except OSError:
        return False
    major, minor = (int(x, 16) for x in dev.split(b":"))
    return (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) == (major, minor, ino) and bool(fs.f_flag & os.ST_RDONLY)


def _prot(perms):
    return (mmap.PROT_READ if perms[0] == "r" else 0) | (mmap.PROT_WRITE if perms[1] == "w" else 0) | (mmap.PROT_EXEC if perms[2] == "x" else 0)


def _map(addr, length, prot, flags, fd=-1, offset=0):
    got = _libc.mmap(addr, length, prot, flags | MAP_FIXED, fd, offset)
    if got in (None, MAP_FAILED) or got != addr:
        e = ctypes.get_errno()
        raise OSError(e, "cannot remap %#x: %s" % (addr, os.strerror(e)))


def _replace(addr, length, perms, shared):
    """Swap a mapping for fresh anonymous pages (shared or private) holding the same bytes."""
    prot = _prot(perms)
    if perms[0] != "r":
        _libc.mprotect(addr, length, prot | mmap.PROT_READ)
    data = ctypes.string_at(addr, length)
    _map(addr, length, mmap.PROT_READ | mmap.PROT_WRITE, (mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE) | mmap.MAP_ANONYMOUS)
    ctypes.memmove(addr, data, length)
    _libc.mprotect(addr, length, prot)


def _map_own_file(addr, length, perms, offset, path):
    fd = os.open(path, os.O_RDWR if perms[1] == "w" else os.O_RDONLY)
    try:
        _map(addr, length, _prot(perms), mmap.MAP_SHARED, fd, offset)
    finally:
        os.close(fd)


def own_mappings(frozen):
    """Give every shared mapping this process's own pages; returns what was shared.

    `frozen` (a snapshot): the pages become private copies, so nothing can change them and each branch
    inherits them copy-on-write; the branch makes them shared again with `share_again`.
    """
    regions = _shared_maps()
    for addr, length, perms, offset, path in regions:
        if not frozen and _own(path) and not path.endswith(" (deleted)"):
            _map_own_file(addr, length, perms, offset, path)
        else:
            _replace(addr, length, perms, shared=not frozen)
    return regions


def share_again(regions):
    """In a branch of a snapshot: the snapshot's private copies of shared mappings become shared again."""
    for addr, length, perms, offset, path in regions:
        if _own(path) and not path.endswith(" (deleted)"):
            _map_own_file(addr, length, perms, offset, path)
        else:
            _replace(addr, length, perms, shared=True)
