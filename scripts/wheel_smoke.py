"""Smoke test of an installed diskcache_swift wheel (run by scripts/wheel.sh in a fresh venv,
with the Swift toolchain off PATH).

    python wheel_smoke.py FORBIDDEN_PREFIX...

Checks that the package comes from site-packages, that each public class does its basic
work, and that the process mapped no file under FORBIDDEN_PREFIX (the toolchain) and no
shared Swift runtime library (libswift*.so, libdispatch, libFoundation): the wheel must carry
its runtime inside the extension.
"""

import os
import sys
import tempfile

import diskcache_swift as dc
from diskcache_swift import _engine


def mapped_files():
    with open('/proc/self/maps') as maps:
        return {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}


def check_isolation(forbidden):
    site = os.path.dirname(os.path.dirname(dc.__file__))
    assert 'site-packages' in site, f'diskcache_swift imported from {dc.__file__}, not an installed wheel'
    assert _engine.__file__.startswith(site), _engine.__file__
    runtime_names = ('libswift', 'libdispatch', 'libFoundation', 'libBlocksRuntime')
    bad = sorted(
        path for path in mapped_files()
        if path.startswith('/') and (
            any(path.startswith(prefix) for prefix in forbidden)
            or any(name in os.path.basename(path) for name in runtime_names)
        )
    )
    assert not bad, f'import mapped toolchain files: {bad}'
    return site


def exercise(root):
    calls = []

    with dc.Cache(os.path.join(root, 'cache')) as cache:
        cache.set('a', b'x' * 100_000, expire=60, tag='t')
        cache['b'] = {'n': 1}
        assert cache.get('a', tag=True) == (b'x' * 100_000, 't')
        assert cache['b'] == {'n': 1}
        assert cache.incr('n', 5) == 5
        assert 'b' in cache and len(cache) == 3

        @cache.memoize()
        def square(x):
            calls.append(x)
            return x * x

        assert square(4) == 16 and square(4) == 16 and calls == [4]

    with dc.FanoutCache(os.path.join(root, 'fanout'), shards=4) as fanout:
        for i in range(100):
            fanout[i] = str(i)
        assert all(fanout.get(i) == str(i) for i in range(100))
        assert fanout.get('missing', default=-1) == -1

        @fanout.memoize(typed=True)
        def double(x):
            calls.append(x)
            return 2 * x

        assert double(3) == 6 and double(3) == 6 and calls == [4, 3]

    deque = dc.Deque(range(5), directory=os.path.join(root, 'deque'))
    deque.appendleft(-1)
    deque.append(5)
    assert list(deque) == [-1, 0, 1, 2, 3, 4, 5]
    assert deque.popleft() == -1 and deque.pop() == 5

    index = dc.Index(os.path.join(root, 'index'), {'k': 'v'})
    index['z'] = 26
    assert index['k'] == 'v' and index.get('z') == 26 and list(index) == ['k', 'z']


def main():
    site = check_isolation(sys.argv[1:])
    with tempfile.TemporaryDirectory() as root:
        exercise(root)
    check_isolation(sys.argv[1:])  # nothing loaded lazily either
    print(f'smoke ok: diskcache_swift {dc.__engine_version__} from {site} on Python {sys.version.split()[0]}')


if __name__ == '__main__':
    main()
