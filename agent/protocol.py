"""What both world agents share of agent/PROTOCOL.md (agent/agent.py for the process driver, agent/guest/agent.py
inside a microvm): the error codes, the reply envelope, paths inside the world, and files moved in chunks. One
implementation, so a world answers the same way whichever driver made it.

Stdlib only, and only modules the agents load anyway: whatever is imported here is paid for by every cold start.
"""

import base64
import errno
import os

import worldexec

# Error codes. Each is the code of the host's error class it becomes (src/base/errors.ts), one for one.
INVALID_ARGUMENT = "INVALID_ARGUMENT"  # a path outside the world, a command that cannot start, a file too large, a failed write
FILE_NOT_FOUND = "FILE_NOT_FOUND"  # read_file of a path that is not there, or not a regular file
DISK_FULL = "DISK_FULL"  # a write past the world's disk: its diskMib, or a full tmpfs
FORK_REFUSED = "FORK_REFUSED"  # fork with other threads alive (process agent)
DRIVER = "DRIVER"  # anything else: an op this agent does not serve, a malformed request, the agent's own failure

FILE_CHUNK = 192 * 1024  # bytes of file data per message (base64 makes it 256 KiB)


class Fault(Exception):
    """An error answered to the host with one of the codes above."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def ok(rid, result):
    return {"id": rid, "ok": True, "result": result}


def failure(rid, exc):
    """The error reply for what a handler raised: a Fault with its code, anything else as DRIVER (the agent must
    never die of a bad request; the exception's type helps whoever reads the message)."""
    if isinstance(exc, Fault):
        return {"id": rid, "ok": False, "error": {"code": exc.code, "message": str(exc)}}
    return {"id": rid, "ok": False, "error": {"code": DRIVER, "message": "%s: %s" % (type(exc).__name__, exc)}}


def resolve(home, path):
    """`path` inside the world's directory `home` (symlinks followed), or INVALID_ARGUMENT."""
    try:
        return worldexec.inside(home, path)
    except worldexec.OutsideError as e:
        raise Fault(INVALID_ARGUMENT, str(e))


def write_error(path, e):
    if e.errno in (errno.EDQUOT, errno.ENOSPC):
        return Fault(DISK_FULL, "cannot write %r: %s (the world's disk limit, diskMib, or its filesystem is full)" % (path, e.strerror))
    return Fault(INVALID_ARGUMENT, "cannot write %r: %s" % (path, e.strerror))


class Files:
    """`write_file` and `read_file`. A write lands in a temporary file beside its target, one chunk per request,
    and is renamed into place with the last one; a read streams `data` events and answers its size."""

    def __init__(self):
        self.upload = None  # (path, temporary path, fd) of a write_file in progress

    def write(self, home, req):
        path = req.get("path")
        if req.get("first"):
            self.abort()
            full = resolve(home, path)
            try:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                tmp = os.path.join(os.path.dirname(full), ".wr-upload-%d-%s" % (os.getpid(), os.urandom(4).hex()))
                self.upload = (full, tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
            except OSError as e:
                raise write_error(path, e)
        if self.upload is None:
            raise Fault(DRIVER, "write_file chunk without a first chunk")
        full, tmp, fd = self.upload
        try:
            view = memoryview(base64.b64decode(req.get("data") or ""))
            while view:
                view = view[os.write(fd, view):]
            if not req.get("last"):
                return {}
            os.close(fd)
            self.upload = None
            os.rename(tmp, full)
        except OSError as e:
            self.abort(tmp)
            raise write_error(path, e)
        return {"path": full}

    def abort(self, tmp=None):
        """Drop the write in progress, if any, and its temporary file."""
        if self.upload is not None:
            _, tmp, fd = self.upload
            self.upload = None
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def forget(self):
        """In a fork child: the parent's write in progress is the parent's."""
        self.upload = None

    def read(self, home, req, send):
        """Stream the file as `data` events (base64 chunks) through `send`; answer its size."""
        path = req.get("path")
        full = resolve(home, path)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise Fault(FILE_NOT_FOUND, "no file %r in the world" % path)
        except OSError as e:
            raise Fault(INVALID_ARGUMENT, "cannot read %r: %s" % (path, e.strerror))
        try:
            if not os.path.isfile("/proc/self/fd/%d" % fd):
                raise Fault(FILE_NOT_FOUND, "%r is not a regular file" % path)
            limit = req.get("maxBytes") or (1 << 62)
            if os.fstat(fd).st_size > limit:
                raise Fault(INVALID_ARGUMENT, "%r is larger than %d bytes: copy it out with run() instead" % (path, limit))
            size = 0
            while True:
                chunk = os.read(fd, FILE_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise Fault(INVALID_ARGUMENT, "%r grew past %d bytes while it was read" % (path, limit))
                send(base64.b64encode(chunk).decode())
            return {"size": size}
        finally:
            os.close(fd)
