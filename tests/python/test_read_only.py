"""Read-only open (python-diskcache #113, #172): `Cache(directory, read_only=True)` reads a
cache it cannot write, creates and changes nothing, follows other processes' writes, and
every write raises `ReadOnlyError` having had no effect."""

import errno
import json
import os
import pwd
import subprocess
import sys
import tempfile
import shutil

import pytest

import diskcache_swift as dc

IS_ROOT = os.geteuid() == 0
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(dc.__file__)))


def listing(directory):
    """Every path under `directory` with its size and mtime (ns)."""
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            found[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    st = os.lstat(directory)
    found['.'] = (st.st_mtime_ns, st.st_mode)
    return found


def make_cache(directory, **settings):
    cache = dc.Cache(directory, **settings)
    cache.set('small', 'value')
    cache.set('number', 41)
    cache.set('big', b'x' * 100_000)  # a value file
    cache.set('tagged', [1, 2], tag='t', expire=3600)
    cache.push('queued', prefix='q')
    cache.close()
    return directory


# Each write method of Cache, called the way python-diskcache's callers call it.
WRITES = {
    'set': lambda c: c.set('new', 1),
    'set_big': lambda c: c.set('new', b'y' * 100_000),
    'set_read': lambda c: c.set('new', __import__('io').BytesIO(b'z' * 10), read=True),
    'setitem': lambda c: c.__setitem__('new', 1),
    'add': lambda c: c.add('new', 1),
    'delete': lambda c: c.delete('small'),
    'delitem': lambda c: c.__delitem__('small'),
    'pop': lambda c: c.pop('small'),
    'incr': lambda c: c.incr('number'),
    'decr': lambda c: c.decr('number'),
    'touch': lambda c: c.touch('small', 10),
    'push': lambda c: c.push('v', prefix='q'),
    'pull': lambda c: c.pull(prefix='q'),
    'clear': lambda c: c.clear(),
    'expire': lambda c: c.expire(),
    'evict': lambda c: c.evict('t'),
    'cull': lambda c: c.cull(),
    'check': lambda c: c.check(),
    'reset': lambda c: c.reset('cull_limit', 3),
    'stats_enable': lambda c: c.stats(enable=True),
    'transact': lambda c: c.transact().__enter__(),
    'create_tag_index': lambda c: c.create_tag_index(),
    'set_many': lambda c: c.set_many({'new': 1, 'other': 2}),
    'delete_many': lambda c: c.delete_many(['small', 'number']),
    'vacuum': lambda c: c.vacuum(),
}


def expected_reads(cache):
    return {
        'small': cache.get('small'),
        'number': cache['number'],
        'big': len(cache.get('big')),
        'big_read': len(cache.read('big').read()),
        'tagged': cache.get('tagged', tag=True),
        'contains': 'small' in cache,
        'len': len(cache),
        'keys': sorted(map(str, cache)),
        'peek': cache.peek(prefix='q'),
        'peekitem': cache.peekitem()[0],
        'volume': cache.volume() > 0,
        'reversed': list(map(str, reversed(cache))),
        'iterkeys': list(map(str, cache.iterkeys())),
        'items': [(str(k), v if not isinstance(v, bytes) else len(v)) for k, v in cache.items()],
        'get_many': sorted(cache.get_many(['small', 'number', 'nope']).items()),
        'by_tag': list(cache.iterkeys_by_tag('t')),
        'exists': cache.exists('small'),
    }


@pytest.fixture
def cache_dir():
    path = tempfile.mkdtemp(prefix='dcs-ro-')
    yield make_cache(os.path.join(path, 'cache'))
    shutil.rmtree(path, ignore_errors=True)


def test_reads_work_and_nothing_changes(cache_dir):
    with dc.Cache(cache_dir) as writable:
        expected = expected_reads(writable)
    before = listing(cache_dir)
    cache = dc.Cache(cache_dir, read_only=True)
    assert cache.read_only
    assert expected_reads(cache) == expected
    cache.close()
    assert listing(cache_dir) == before


@pytest.mark.parametrize('name', sorted(WRITES))
def test_every_write_raises_and_has_no_effect(cache_dir, name):
    with dc.Cache(cache_dir) as writable:
        expected = expected_reads(writable)
    before = listing(cache_dir)
    cache = dc.Cache(cache_dir, read_only=True)
    with pytest.raises(dc.ReadOnlyError) as info:
        WRITES[name](cache)
    assert isinstance(info.value, OSError) and info.value.errno == errno.EROFS
    assert 'read-only' in str(info.value)
    assert expected_reads(cache) == expected
    cache.close()
    assert listing(cache_dir) == before
    with dc.Cache(cache_dir) as writable:
        assert expected_reads(writable) == expected


def test_follows_other_processes_writes(cache_dir):
    cache = dc.Cache(cache_dir, read_only=True)
    assert cache.get('later') is None
    code = 'import diskcache_swift as dc; c = dc.Cache(%r); c.set("later", "seen"); c.delete("small")' % cache_dir
    subprocess.run([sys.executable, '-c', code], check=True, env={**os.environ, 'PYTHONPATH': PYTHON_DIR})
    assert cache.get('later') == 'seen'
    assert cache.get('small') is None
    # Compaction by a writer (a new segment): the reader follows it too.
    with dc.Cache(cache_dir) as writable:
        writable.set('after', 2)
        writable._compact()
        writable.set('after_compaction', 3)
    assert cache.get('after') == 2 and cache.get('after_compaction') == 3
    assert cache.get('number') == 41


def test_no_statistics_and_no_access_order_written(cache_dir):
    with dc.Cache(cache_dir, statistics=1, eviction_policy='least-recently-used') as writable:
        writable.get('small')
        shared = writable.stats(enable=True)
    before = listing(cache_dir)
    cache = dc.Cache(cache_dir, read_only=True)
    for _ in range(3):
        assert cache.get('small') == 'value'
        assert cache.get('missing') is None
    # Statistics stay in the process; the LRU policy's access records are not written.
    assert cache.stats(enable=True) == (shared[0] + 3, shared[1] + 3)
    cache.close()
    assert listing(cache_dir) == before
    with dc.Cache(cache_dir) as writable:
        assert writable.stats(enable=True) == shared


def test_settings_must_match_the_stored_ones(cache_dir):
    with dc.Cache(cache_dir) as writable:
        writable.reset('cull_limit', 5)
    with dc.Cache(cache_dir, read_only=True, cull_limit=5) as cache:
        assert cache.cull_limit == 5
    before = listing(cache_dir)
    with pytest.raises(dc.ReadOnlyError, match='cull_limit'):
        dc.Cache(cache_dir, read_only=True, cull_limit=7)
    assert listing(cache_dir) == before


def test_no_cache_to_open(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(dc.ReadOnlyError, match='holds no cache'):
        dc.Cache(str(empty), read_only=True)
    assert list(empty.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        dc.Cache(str(tmp_path / 'missing'), read_only=True)
    assert not (tmp_path / 'missing').exists()


def test_custom_disk_writes_nothing(cache_dir):
    class MyDisk(dc.Disk):
        def store(self, value, read, key=dc.UNKNOWN):
            return super().store(value, read, key=key)

    before = listing(cache_dir)
    cache = dc.Cache(cache_dir, disk=MyDisk, read_only=True)
    assert cache.get('small') == 'value'
    with pytest.raises(dc.ReadOnlyError):
        cache.set('new', b'q' * 100_000)
    cache.close()
    assert listing(cache_dir) == before


def test_fanout_deque_index(tmp_path):
    directory = str(tmp_path / 'fanout')
    with dc.FanoutCache(directory, shards=4) as fanout:
        for i in range(20):
            fanout.set(i, str(i))
        fanout.deque('d').extend([1, 2, 3])
        fanout.index('i')['k'] = 'v'
    before = listing(directory)
    fanout = dc.FanoutCache(directory, shards=4, read_only=True)
    assert [fanout.get(i) for i in range(20)] == [str(i) for i in range(20)]
    assert len(fanout) == 20
    assert list(fanout.deque('d')) == [1, 2, 3]
    assert dict(fanout.index('i')) == {'k': 'v'}
    with pytest.raises(dc.ReadOnlyError):
        fanout._shard(1).set(1, 'x')
    # FanoutCache's own methods keep python-diskcache's Timeout handling only.
    with pytest.raises(dc.ReadOnlyError):
        fanout.set(1, 'x')
    with pytest.raises(dc.ReadOnlyError):
        fanout.deque('d').append(4)
    fanout.close()
    deque = dc.Deque(directory=os.path.join(directory, 'deque', 'd'), read_only=True)
    assert list(deque) == [1, 2, 3]
    with pytest.raises(dc.ReadOnlyError):
        deque.pop()
    index = dc.Index.fromcache(dc.Cache(os.path.join(directory, 'index', 'i'), read_only=True))
    assert index['k'] == 'v'
    with pytest.raises(dc.ReadOnlyError):
        index['k'] = 'w'
    assert listing(directory) == before


# Run as `nobody` (uid 65534) on a directory owned by root, files 0644 and directories 0755:
# the child imports diskcache_swift as root (the interpreter lives under /root), then drops
# its privileges before touching the cache.
UNPRIVILEGED_CHILD = r'''
import json, os, sys
import diskcache_swift as dc
directory = sys.argv[1]
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
assert os.geteuid() == 65534
try:
    open(os.path.join(directory, 'probe'), 'w')
    sys.exit('the child can write the directory: not unprivileged')
except PermissionError:
    pass
try:
    dc.Cache(directory)
    writable_open = 'opened'
except OSError as error:
    writable_open = type(error).__name__
cache = dc.Cache(directory, read_only=True)
result = {'writable_open': writable_open, 'small': cache.get('small'), 'big': len(cache.get('big')),
          'number': cache['number'], 'len': len(cache), 'tagged': cache.get('tagged', tag=True)}
errors = {}
for name, call in [('set', lambda: cache.set('new', 1)), ('set_big', lambda: cache.set('new', b'y' * 100000)),
                   ('delete', lambda: cache.delete('small')), ('incr', lambda: cache.incr('number')),
                   ('clear', lambda: cache.clear()), ('pull', lambda: cache.pull(prefix='q')),
                   ('touch', lambda: cache.touch('small'))]:
    try:
        call()
        errors[name] = None
    except Exception as error:
        errors[name] = [type(error).__name__, getattr(error, 'errno', None)]
result['errors'] = errors
print(json.dumps(result), flush=True)
sys.stdin.readline()  # the parent writes meanwhile
result = {'later': cache.get('later'), 'small': cache.get('small')}
cache.close()
print(json.dumps(result), flush=True)
'''


@pytest.mark.skipif(not IS_ROOT, reason='needs root to create a directory another user cannot write')
def test_unprivileged_user(tmp_path):
    base = tempfile.mkdtemp(prefix='dcs-ro-nobody-')
    try:
        os.chmod(base, 0o755)
        directory = make_cache(os.path.join(base, 'cache'))
        for root, dirs, files in os.walk(directory):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        assert pwd.getpwuid(os.stat(directory).st_uid).pw_name == 'root'
        before = listing(directory)
        child = subprocess.Popen(
            [sys.executable, '-c', UNPRIVILEGED_CHILD, directory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, 'PYTHONPATH': PYTHON_DIR},
        )
        first = json.loads(child.stdout.readline())
        assert first['writable_open'] == 'PermissionError'
        assert first['small'] == 'value' and first['big'] == 100_000 and first['number'] == 41
        assert first['len'] == 5 and first['tagged'] == [[1, 2], 't']
        assert first['errors'] == {name: ['ReadOnlyError', errno.EROFS] for name in first['errors']}
        assert listing(directory) == before
        with dc.Cache(directory) as writable:
            writable.set('later', 'seen')
            writable.delete('small')
        child.stdin.write('go\n')
        child.stdin.flush()
        second = json.loads(child.stdout.readline())
        assert child.wait(timeout=60) == 0
        assert second == {'later': 'seen', 'small': None}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_network_mode(tmp_path):
    directory = str(tmp_path / 'net')
    writer = dc.Cache(directory, network=True)
    writer.set('a', 'alpha')
    writer.set('big', b'n' * 100_000)
    before = listing(directory)
    cache = dc.Cache(directory, read_only=True)  # the directory's marker says network mode
    assert cache.network and cache.read_only
    assert cache.get('a') == 'alpha' and len(cache.get('big')) == 100_000
    with pytest.raises(dc.ReadOnlyError):
        cache.set('b', 1)
    assert listing(directory) == before
    writer.set('b', 'beta')
    # Network-mode reads look for other processes' batches at most every 5 ms.
    import time

    deadline = time.monotonic() + 10
    while cache.get('b') is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get('b') == 'beta'
    cache.close()
    writer.close()
