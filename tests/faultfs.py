#!/usr/bin/python3
# Copied from shared/reference/faultfs.py for tests/python/test_faults.py; create() opens read-write.
"""faultfs: FUSE passthrough filesystem with scriptable I/O fault injection.

Run with Debian's python (python3-fusepy):
    /usr/bin/python3 faultfs.py ROOT MOUNTPOINT CONTROL_JSON &
    ...  fusermount -u MOUNTPOINT

CONTROL_JSON is re-read whenever its mtime changes, so a test can flip faults at runtime:
  {"rules": [
     {"op": "write",  "glob": "*.log", "errno": "ENOSPC", "prob": 1.0, "after": 10, "times": 3},
     {"op": "fsync",  "glob": "*",     "errno": "EIO"},
     {"op": "write",  "glob": "*",     "short": 0.5},            # torn write: only half written, short count returned
     {"op": "read",   "glob": "*",     "corrupt": true},         # flip one byte in returned data
     {"op": "rename", "glob": "*",     "delay_ms": 200}          # slow metadata op
  ]}
ops: open create read write fsync flush release rename unlink mkdir rmdir truncate getattr readdir link symlink chmod utimens
"after": skip the first N matching calls; "times": fail at most N times; "prob": probability (default 1).
Counters are reset whenever the control file changes. Writes a one-line log per injected fault to stderr.
"""
import errno, fnmatch, json, os, random, sys, threading, time

from fusepy import FUSE, FuseOSError, Operations


class Faults:
    def __init__(self, path):
        self.path, self.mtime, self.rules, self.lock = path, None, [], threading.Lock()

    def _reload(self):
        try:
            m = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            m = None
        if m != self.mtime:
            self.mtime = m
            rules = []
            if m is not None:
                try:
                    rules = json.load(open(self.path)).get("rules", [])
                except Exception as e:  # keep going with no rules
                    print(f"faultfs: bad control file: {e}", file=sys.stderr)
            for r in rules:
                r["_seen"], r["_fired"] = 0, 0
            self.rules = rules

    def check(self, op, path):
        """returns the matching rule dict (already counted) or None"""
        with self.lock:
            self._reload()
            for r in self.rules:
                if r.get("op", "*") not in ("*", op):
                    continue
                if not fnmatch.fnmatch(path, r.get("glob", "*")) and not fnmatch.fnmatch(
                        os.path.basename(path), r.get("glob", "*")):
                    continue
                r["_seen"] += 1
                if r["_seen"] <= r.get("after", 0):
                    continue
                if "times" in r and r["_fired"] >= r["times"]:
                    continue
                if random.random() >= r.get("prob", 1.0):
                    continue
                r["_fired"] += 1
                print(f"faultfs: inject {op} {path} {({k: v for k, v in r.items() if not k.startswith('_')})}",
                      file=sys.stderr, flush=True)
                return r
        return None

    def apply(self, op, path):
        r = self.check(op, path)
        if r is None:
            return None
        if r.get("delay_ms"):
            time.sleep(r["delay_ms"] / 1000)
        if r.get("errno"):
            raise FuseOSError(getattr(errno, r["errno"]))
        return r


class FaultFS(Operations):
    def __init__(self, root, ctl):
        self.root = os.path.realpath(root)
        self.f = Faults(ctl)

    def _p(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _wrap(fn):  # OSError -> FuseOSError
        def w(self, *a, **k):
            try:
                return fn(self, *a, **k)
            except OSError as e:
                if isinstance(e, FuseOSError):
                    raise
                raise FuseOSError(e.errno)
        w.__name__ = fn.__name__
        return w

    @_wrap
    def getattr(self, path, fh=None):
        self.f.apply("getattr", path)
        st = os.fstat(fh) if fh is not None else os.lstat(self._p(path))
        return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink",
                                             "st_size", "st_uid", "st_ino", "st_blocks")}

    @_wrap
    def readdir(self, path, fh):
        self.f.apply("readdir", path)
        return [".", ".."] + os.listdir(self._p(path))

    @_wrap
    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    @_wrap
    def chmod(self, path, mode):
        self.f.apply("chmod", path)
        os.chmod(self._p(path), mode)

    @_wrap
    def chown(self, path, uid, gid):
        os.chown(self._p(path), uid, gid)

    @_wrap
    def readlink(self, path):
        return os.readlink(self._p(path))

    @_wrap
    def mknod(self, path, mode, dev):
        os.mknod(self._p(path), mode, dev)

    @_wrap
    def mkdir(self, path, mode):
        self.f.apply("mkdir", path)
        os.mkdir(self._p(path), mode)

    @_wrap
    def rmdir(self, path):
        self.f.apply("rmdir", path)
        os.rmdir(self._p(path))

    @_wrap
    def unlink(self, path):
        self.f.apply("unlink", path)
        os.unlink(self._p(path))

    @_wrap
    def symlink(self, target, source):
        self.f.apply("symlink", target)
        os.symlink(source, self._p(target))

    @_wrap
    def rename(self, old, new):
        self.f.apply("rename", new)
        os.rename(self._p(old), self._p(new))

    @_wrap
    def link(self, target, source):
        self.f.apply("link", target)
        os.link(self._p(source), self._p(target))

    @_wrap
    def utimens(self, path, times=None):
        os.utime(self._p(path), times)

    @_wrap
    def statfs(self, path):
        s = os.statvfs(self._p(path))
        return {k: getattr(s, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                                            "f_files", "f_flag", "f_frsize", "f_namemax")}

    @_wrap
    def open(self, path, flags):
        self.f.apply("open", path)
        return os.open(self._p(path), flags)

    @_wrap
    def create(self, path, mode, fi=None):
        self.f.apply("create", path)
        # Read-write whatever the caller asked: fusepy does not pass the flags here, and a
        # write-only handle makes reads through it (mmap page faults: SIGBUS) fail. The
        # kernel applies O_TRUNC itself.
        return os.open(self._p(path), os.O_RDWR | os.O_CREAT, mode)

    @_wrap
    def read(self, path, size, offset, fh):
        r = self.f.apply("read", path)
        data = os.pread(fh, size, offset)
        if r is not None and r.get("corrupt") and data:
            i = random.randrange(len(data))
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        if r is not None and r.get("short") and data:
            data = data[: max(1, int(len(data) * r["short"]))]
        return data

    @_wrap
    def write(self, path, data, offset, fh):
        r = self.f.apply("write", path)
        if r is not None and r.get("short"):
            part = data[: int(len(data) * r["short"])]
            n = os.pwrite(fh, part, offset) if part else 0
            if r.get("then_errno"):
                raise FuseOSError(getattr(errno, r["then_errno"]))
            return n
        return os.pwrite(fh, data, offset)

    @_wrap
    def truncate(self, path, length, fh=None):
        self.f.apply("truncate", path)
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._p(path), length)

    @_wrap
    def flush(self, path, fh):
        self.f.apply("flush", path)
        return 0

    @_wrap
    def release(self, path, fh):
        os.close(fh)
        return 0

    @_wrap
    def fsync(self, path, datasync, fh):
        self.f.apply("fsync", path)
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    root, mnt, ctl = sys.argv[1:4]
    # kernel handles fcntl/flock locally (no lock op); direct_io off so page cache/mmap work
    FUSE(FaultFS(root, ctl), mnt, foreground=True, nothreads=False, allow_other=False, default_permissions=False)
