"""Host-side btrfs chores the runtime needs ioctls for (Node has none). Run as the runtime's own user.

    python3 -I -S fsctl.py info MOUNT        {"uuid", "quotas"}; turns simple quotas on when root can
    python3 -I -S fsctl.py remove DIR...     delete each folder and every subvolume under it; {"freed"}
"""

import fcntl
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layers  # noqa: E402

QUOTA_CTL = (3 << 30) | (16 << 16) | (0x94 << 8) | 40
FS_INFO = (2 << 30) | (1024 << 16) | (0x94 << 8) | 31
ENABLE_SIMPLE_QUOTA = 4


def info(mount):
    fd = os.open(mount, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = bytearray(1024)
        fcntl.ioctl(fd, FS_INFO, buf)
        raw = bytes(buf[16:32]).hex()
        uuid = "%s-%s-%s-%s-%s" % (raw[:8], raw[8:12], raw[12:16], raw[16:20], raw[20:])
        quotas = "/sys/fs/btrfs/%s/qgroups" % uuid
        if not os.path.isdir(quotas) and os.getuid() == 0:
            try:
                fcntl.ioctl(fd, QUOTA_CTL, bytearray(struct.pack("QQ", ENABLE_SIMPLE_QUOTA, 0)))
            except OSError:
                pass  # older kernel: no per-world disk limits, doctor says so
        return {"uuid": uuid, "quotas": quotas if os.path.isdir(quotas) else None}
    finally:
        os.close(fd)


def _size(path):
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def remove(path):
    """Delete a folder that may hold btrfs subvolumes (a dead runtime's layers), bottom-up."""
    freed = _size(path) if os.path.isdir(path) else 0
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                continue
            if os.stat(full).st_ino == 256:  # the root of a subvolume
                parent = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    fcntl.ioctl(parent, layers.SNAP_DESTROY_V2, layers._vol_args_v2(0, name))
                except OSError:
                    shutil.rmtree(full, ignore_errors=True)  # not root: an emptied subvolume goes with rmdir
                finally:
                    os.close(parent)
    shutil.rmtree(path, ignore_errors=True)
    return freed


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "info":
        out = info(args[0])
    elif cmd == "remove":
        out = {"freed": sum(remove(p) for p in args)}
    else:
        sys.exit("fsctl.py: unknown command %r" % cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
