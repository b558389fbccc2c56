"""Regression tests for the engine defects of issue 9, as Python users met them (repros in
shared/repros: adv-r03, adv-r04, adv-r04b, adv-r11, adv-r12)."""

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import diskcache_swift


def _wait_child(pid):
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 'signal %d' % os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def test_compaction_failure_after_commit_does_not_fail_the_write(tmpdir_path):
    # adv-r03: the write committed; its compaction failing must not make it raise (incr
    # retried double-counts, pop loses the value). check() reports the failure.
    cache = diskcache_swift.Cache(tmpdir_path, disk_min_file_size=2**31 - 1)
    cache.set('ctr', 0)
    cache.set('popme', 'precious')
    # The next segment's name taken by a directory: compaction cannot publish it.
    os.mkdir(os.path.join(tmpdir_path, 'segment-000000000002.dcl'))
    value = 'x' * 20000
    for i in range(400):
        cache.set('ow%d' % (i % 10), value)
    for _ in range(5):
        cache.incr('ctr')
    assert cache.get('ctr') == 5
    assert cache.pop('popme') == 'precious'
    assert cache.get('popme') is None
    found = cache.check()
    assert any('compaction failed' in str(w.message) for w in found), [str(w.message) for w in found]
    cache.close()


def test_fork_during_another_threads_transaction(tmpdir_path):
    # adv-r04: the child read a miss for a committed key (its index held the parent's
    # uncommitted entries), or died with SIGSEGV after a large transaction.
    cache = diskcache_swift.Cache(tmpdir_path, disk_min_file_size=2**31 - 1)
    cache.set('k', 'committed')
    inside, release = threading.Event(), threading.Event()

    def body():
        with cache.transact():
            for i in range(8):
                cache.set('pad%d' % i, b'p' * (1 << 20))
            cache.set('k', 'uncommitted')
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=body)
    thread.start()
    assert inside.wait(30)
    pid = os.fork()
    if pid == 0:
        ok = cache.get('k') == 'committed' and cache.get('pad7') is None
        os._exit(0 if ok else 1)
    status = _wait_child(pid)
    release.set()
    thread.join()
    assert status == 0
    assert cache.get('k') == 'uncommitted'


def test_fork_during_synced_write(tmpdir_path):
    # adv-r04b: durability='sync' lets other threads run during fdatasync, with the
    # write's records already in the index; a child forked then read None.
    cache = diskcache_swift.Cache(tmpdir_path, durability='sync')
    cache.set('k', 'committed-0')
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            cache.set('k', 'committed-%d' % i)

    thread = threading.Thread(target=writer)
    thread.start()
    statuses = []
    try:
        for _ in range(60):
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)
                value = cache.get('k')
                os._exit(0 if isinstance(value, str) and value.startswith('committed') else 7)
            statuses.append(_wait_child(pid))
    finally:
        stop.set()
        thread.join()
    assert [s for s in statuses if s != 0] == []


def test_forked_child_does_not_keep_a_dead_parents_lock(tmpdir_path):
    # adv-r12: the helper child of a killed parent kept the parent's flock (inherited
    # descriptor and mapping) until it exited. Opening honours the timeout too.
    diskcache_swift.Cache(tmpdir_path).set('x', 0)
    script = textwrap.dedent('''
        import os, sys, time, diskcache_swift
        c = diskcache_swift.Cache(sys.argv[1]); c.get('x')
        pid = os.fork()
        if pid == 0:
            time.sleep(120); os._exit(0)
        print(pid, flush=True)
        with c.transact():
            c.set('x', 1)
            print('in transaction', flush=True)
            time.sleep(120)
    ''')
    parent = subprocess.Popen([sys.executable, '-c', script, tmpdir_path], stdout=subprocess.PIPE, text=True)
    helper = int(parent.stdout.readline())
    try:
        assert parent.stdout.readline() == 'in transaction\n'
        parent.kill()
        parent.wait()
        # The lock is free once the parent is gone (polled: the kernel releases it as the
        # parent's descriptors close), whatever the helper does.
        fd = os.open(os.path.join(tmpdir_path, 'control'), os.O_RDWR)
        try:
            for _ in range(100):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.1)
            else:
                pytest.fail('the lock is still held by the dead parent\'s helper child')
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        cache = diskcache_swift.Cache(tmpdir_path, timeout=5)
        cache.set('y', 1)
        assert cache.get('x') == 0
    finally:
        os.kill(helper, signal.SIGKILL)
        parent.stdout.close()


def test_open_honours_the_timeout(tmpdir_path):
    holder = diskcache_swift.Cache(tmpdir_path)
    inside, release = threading.Event(), threading.Event()

    def hold():
        with holder.transact():
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(30)
        with pytest.raises(diskcache_swift.Timeout):
            diskcache_swift.Cache(tmpdir_path, timeout=0.2)
    finally:
        release.set()
        thread.join()


def test_close_inside_transaction_raises_and_keeps_it(tmpdir_path):
    # adv-r11: close() inside transact() raised nothing, dropped the writes before it and
    # committed the later ones one by one. python-diskcache raises ProgrammingError.
    cache = diskcache_swift.Cache(tmpdir_path)
    other = diskcache_swift.Cache(tmpdir_path)
    with cache.transact():
        cache.set('a', 1)
        with pytest.raises(sqlite3.ProgrammingError):
            cache.close()
        cache.set('b', 2)
        assert other.get('a') is None and other.get('b') is None
    assert other.get('a') == 1 and other.get('b') == 2
    cache.close()
    assert cache.get('a') == 1


def test_reads_from_other_threads_during_a_transaction(tmpdir_path):
    # adv-r08: a read from another thread waited for the transaction's end (a deadlock when
    # the body waits for that thread); it is served at once, from the committed state.
    import concurrent.futures as cf
    cache = diskcache_swift.Cache(tmpdir_path)
    cache.set('config', 'v1')
    with cf.ThreadPoolExecutor(1) as pool:
        with cache.transact():
            cache.set('config', 'v2')
            cache.set('counter', 1)
            got = pool.submit(lambda: (cache.get('config'), 'counter' in cache, len(cache))).result(timeout=30)
        assert got == ('v1', False, 1)
    assert cache.get('config') == 'v2' and cache.get('counter') == 1


def test_writer_from_another_thread_honours_the_timeout(tmpdir_path):
    # adv-r08: writers from other threads waited on the in-process mutex without limit.
    cache = diskcache_swift.Cache(tmpdir_path, timeout=0.2)
    inside, release = threading.Event(), threading.Event()

    def hold():
        with cache.transact():
            cache.set('a', 1)
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(30)
        with pytest.raises(diskcache_swift.Timeout):
            cache.set('b', 2)
    finally:
        release.set()
        thread.join()
    assert cache.get('a') == 1 and cache.get('b') is None
