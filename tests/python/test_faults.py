"""Injected I/O faults (issue 5, "the faults real disks make").

A child process (fault_workload.py) writes keys under a fault injector and reports which
writes were acknowledged and how the others failed; this process then opens the cache fresh
and verifies: every failure is an OSError with an errno and the cache's path in its message,
every acknowledged key reads back exactly, no failed write became visible, check() finds
nothing, and writes succeed once the fault is gone.

Injectors: strace -e inject (EIO/ENOSPC on pwrite64, fdatasync, rename), libfiu's fiu-run
(short writes, random EIO), a 1 MiB tmpfs (a really full disk), and the FUSE fault
filesystem tests/faultfs.py (reads that return damaged bytes or fail). scripts/setup.sh
installs strace, fiu-utils, fuse3 and python3-fusepy.
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import diskcache_swift

sys.path.insert(0, os.path.dirname(__file__))
from fault_workload import fault_value  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, 'fault_workload.py')
STRACE = shutil.which('strace')
FIU_RUN = shutil.which('fiu-run')
IS_ROOT = os.geteuid() == 0

needs_strace = pytest.mark.skipif(STRACE is None, reason='strace not installed (scripts/setup.sh installs it)')
needs_fiu = pytest.mark.skipif(FIU_RUN is None, reason='fiu-run not installed (Debian fiu-utils; scripts/setup.sh installs it)')
needs_root = pytest.mark.skipif(not IS_ROOT, reason='mounting tmpfs/FUSE needs root')


def run_workload(directory, spec, injector=()):
    """Runs the workload under `injector`; returns (acked keys, failures, other reports)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
    cmd = list(injector) + [sys.executable, WORKLOAD, directory, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    acked, failures, other = [], [], []
    for line in proc.stdout.splitlines():
        report = json.loads(line)
        if 'ack' in report:
            acked.append(report['ack'])
        elif 'fail' in report:
            failures.append(report)
        else:
            other.append(report)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert {'done': True} in other, (proc.stdout[-2000:], proc.stderr[-3000:])
    # Same process, after the faults: every acknowledged value read back exactly.
    assert [r for r in other if 'read_wrong' in r or 'read_error' in r] == []
    return acked, failures, other


def strace(syscall, error, when):
    """strace injecting `error` into `syscall` at the `when`-th call (e.g. '5' or '5+')."""
    return [STRACE, '-f', '-qq', '-o', '/dev/null', '-e', 'trace=' + syscall,
            '-e', 'inject=%s:error=%s:when=%s' % (syscall, error, when)]


def expect_clear_failures(failures, directory, expected_errno):
    for f in failures:
        assert 'OSError' in f['mro'], f
        assert f['errno'] == expected_errno, f
        assert directory in f['msg'], f


def large_keys(spec):
    every = spec.get('large_every', 0)
    prefix = spec.get('prefix', 'k')
    return {'%s%d' % (prefix, i) for i in range(spec['n']) if every and i % every == 0}


def verify(directory, spec, acked, failures, write_after=True):
    """A fresh process's view: acknowledged values exact, failed writes absent, check()
    clean, and new writes (small and large) work and persist."""
    large = large_keys(spec)
    cache = diskcache_swift.Cache(directory, network=spec.get('network', False))
    try:
        for key in acked:
            assert cache.get(key) == fault_value(key, key in large), key
        for f in failures:
            assert cache.get(f['fail']) is None, 'a write that failed became visible: %s' % f
        assert [str(w.message) for w in cache.check()] == []
        assert len(cache) == len(acked)
        if write_after:
            for i in range(4):
                cache.set('after%d' % i, fault_value('after%d' % i, i % 2 == 0))
    finally:
        cache.close()
    if write_after:
        cache = diskcache_swift.Cache(directory, network=spec.get('network', False))
        try:
            for i in range(4):
                assert cache.get('after%d' % i) == fault_value('after%d' % i, i % 2 == 0)
            assert [str(w.message) for w in cache.check()] == []
        finally:
            cache.close()
    leftovers = [os.path.join(d, n) for d, _, names in os.walk(directory) for n in names if n.endswith('.tmp')]
    assert leftovers == [], 'temporary files left behind: %s' % leftovers


# -- strace: one failing system call, then a persistent fault -------------------------------

@needs_strace
@pytest.mark.parametrize('large_every', [0, 1, 3])
def test_eio_on_one_write(tmpdir_path, large_every):
    """The 6th pwrite fails with EIO (a segment append or a value file, by the mix): exactly
    that set fails, the next ones succeed in the same process."""
    spec = {'n': 16, 'large_every': large_every}
    acked, failures, _ = run_workload(tmpdir_path, spec, strace('pwrite64', 'EIO', '6'))
    assert len(failures) == 1, failures
    assert len(acked) == spec['n'] - 1
    expect_clear_failures(failures, tmpdir_path, errno.EIO)
    verify(tmpdir_path, spec, acked, failures)


@needs_strace
def test_eio_on_every_write_after_a_point(tmpdir_path):
    """From the 5th pwrite on, every write fails: what was acknowledged before stays readable
    (in the failing process and in a fresh one) and writing works again without the fault."""
    spec = {'n': 12, 'large_every': 4}
    acked, failures, _ = run_workload(tmpdir_path, spec, strace('pwrite64', 'EIO', '5+'))
    assert 2 <= len(acked) <= 4, acked
    assert len(failures) == spec['n'] - len(acked)
    expect_clear_failures(failures, tmpdir_path, errno.EIO)
    verify(tmpdir_path, spec, acked, failures)


@needs_strace
@pytest.mark.parametrize('large_every', [0, 2])
def test_eio_on_fdatasync(tmpdir_path, large_every):
    """durability='sync': an fdatasync that fails (of the segment or of a value file) fails
    the set; the cut record is not adopted later."""
    spec = {'n': 12, 'large_every': large_every, 'settings': {'durability': 'sync'}}
    acked, failures, _ = run_workload(tmpdir_path, spec, strace('fdatasync', 'EIO', '4'))
    assert len(failures) == 1, failures
    assert len(acked) == spec['n'] - 1
    expect_clear_failures(failures, tmpdir_path, errno.EIO)
    verify(tmpdir_path, spec, acked, failures)


@needs_strace
def test_eio_on_rename_of_value_file(tmpdir_path):
    """Values over 32 KiB are written to a temporary name and renamed: a failing rename fails
    the set and leaves no temporary file."""
    spec = {'n': 8, 'large_every': 1}
    acked, failures, _ = run_workload(tmpdir_path, spec, strace('rename', 'EIO', '3'))
    assert len(failures) == 1, failures
    assert failures[0]['fail'] == 'k2'
    assert len(acked) == spec['n'] - 1
    expect_clear_failures(failures, tmpdir_path, errno.EIO)
    assert '.val' in failures[0]['msg']
    verify(tmpdir_path, spec, acked, failures)


@needs_strace
def test_enospc_on_writes(tmpdir_path):
    """ENOSPC from the 7th pwrite on (value files and segment): clear errors, nothing
    acknowledged is lost, writes work again when space is back."""
    spec = {'n': 12, 'large_every': 3}
    acked, failures, _ = run_workload(tmpdir_path, spec, strace('pwrite64', 'ENOSPC', '7+'))
    assert acked and failures
    expect_clear_failures(failures, tmpdir_path, errno.ENOSPC)
    verify(tmpdir_path, spec, acked, failures)


# -- libfiu: short writes and random failures -------------------------------------------------

@needs_fiu
def test_short_writes_are_completed(tmpdir_path):
    """Half of all pwrites write only part of the buffer: the engine finishes them, every set
    succeeds and every value reads back."""
    spec = {'n': 30, 'large_every': 3}
    injector = [FIU_RUN, '-x', '-c', 'enable_random name=posix/io/rw/pwrite/reduce,probability=0.5']
    acked, failures, _ = run_workload(tmpdir_path, spec, injector)
    assert failures == []
    assert len(acked) == spec['n']
    verify(tmpdir_path, spec, acked, failures)


@needs_fiu
@pytest.mark.parametrize('seed_round', range(3))
def test_random_eio_and_short_writes(tmpdir_path, seed_round):
    """A fifth of pwrites fail with EIO, others are short: each set either succeeds or fails
    with a clear error, and the cache afterwards holds exactly the acknowledged ones."""
    spec = {'n': 40, 'large_every': 4, 'prefix': 'r%d-' % seed_round}
    injector = [FIU_RUN, '-x',
                '-c', 'enable_random name=posix/io/rw/pwrite,probability=0.2,failinfo=%d' % errno.EIO,
                '-c', 'enable_random name=posix/io/rw/pwrite/reduce,probability=0.3']
    acked, failures, _ = run_workload(tmpdir_path, spec, injector)
    assert len(acked) + len(failures) == spec['n']
    assert failures, 'with p=0.2 per write some of 40 sets must fail'
    expect_clear_failures(failures, tmpdir_path, errno.EIO)
    verify(tmpdir_path, spec, acked, failures)


# -- a really full disk -----------------------------------------------------------------------

@pytest.fixture
def small_tmpfs():
    if not IS_ROOT:
        pytest.skip('mounting tmpfs needs root')
    mnt = tempfile.mkdtemp(prefix='dcs-full-')
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], capture_output=True, text=True)
    if proc.returncode != 0:
        os.rmdir(mnt)
        pytest.skip('cannot mount tmpfs here: %s' % proc.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(['umount', '-l', mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def test_enospc_on_a_full_tmpfs(small_tmpfs):
    """Fill a 1 MiB tmpfs with small and large values: writes fail with ENOSPC naming the
    path, acknowledged values all read back, and after the filesystem grows writes work."""
    directory = os.path.join(small_tmpfs, 'cache')
    spec = {'n': 60, 'large_every': 2}
    acked, failures, _ = run_workload(directory, spec)
    assert acked and failures, (len(acked), failures[:2])
    expect_clear_failures(failures, directory, errno.ENOSPC)
    verify(directory, spec, acked, failures, write_after=False)
    subprocess.run(['mount', '-o', 'remount,size=16m', small_tmpfs], check=True)
    verify(directory, spec, acked, failures, write_after=True)


# -- FUSE: reads that return damaged bytes or fail --------------------------------------------

def test_damaged_and_failing_reads_never_serve_wrong_data(faultfs):
    """Through a filesystem whose reads of value files return a flipped byte or EIO: a get
    is the right value or a miss (or an OSError), never wrong bytes; once reads are sound
    again every value is back (nothing was removed for a transient fault)."""
    mnt, set_rules = faultfs
    directory = os.path.join(mnt, 'cache')
    spec = {'n': 12, 'large_every': 2, 'network': False}
    acked, failures, _ = run_workload(directory, spec)
    assert failures == [] and len(acked) == spec['n']
    large = large_keys(spec)
    for rule in ({'op': 'read', 'glob': '*.val', 'corrupt': True},
                 {'op': 'read', 'glob': '*.val', 'errno': 'EIO'}):
        set_rules([rule])
        cache = diskcache_swift.Cache(directory, network=False)
        try:
            misses = 0
            for key in acked:
                try:
                    got = cache.get(key)
                except OSError as e:
                    assert e.errno == errno.EIO
                    got = None
                if got is None:
                    misses += 1
                else:
                    assert got == fault_value(key, key in large), 'wrong data served for %s under %s' % (key, rule)
            assert misses == len(large), rule
        finally:
            cache.close()
        set_rules([])
        verify(directory, spec, acked, failures, write_after=False)
    verify(directory, spec, acked, failures, write_after=True)
