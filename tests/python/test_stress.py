"""Multi-process stress in the spirit of python-diskcache's tests/stress_test_core.py.

4 processes x 2 threads run random operations over the whole API (set/get/add/incr/pop/
delete/touch/push/pull/transact/expire/cull/evict) on one directory, then the invariants are
checked: the shared counter equals the number of increments that reported success, every
value read at any time verifies itself, what was pushed and not pulled is still queued, and
check() finds nothing. DCS_STRESS_SECONDS sets the duration (default 10, for CI; run longer
locally, e.g. DCS_STRESS_SECONDS=300).
"""
import hashlib
import multiprocessing as mp
import os
import random
import threading
import time
import traceback

import pytest

import diskcache_swift

SECONDS = float(os.environ.get('DCS_STRESS_SECONDS', '10'))
PROCESSES = 4
THREADS = 2
KEYS = 100


def make_value(rng, tag):
    """Bytes or text that carry their own checksum; some large enough for a value file."""
    size = rng.choice((0, 10, 100, 1000, 5000, 40000, 70000))
    payload = rng.randbytes(size)
    digest = hashlib.blake2b(payload, digest_size=8).digest()
    if rng.random() < 0.5:
        return digest + payload
    return '%s:%s:%s' % (tag, digest.hex(), payload.hex())


def verify(value):
    if value is None or isinstance(value, int):
        return True
    if isinstance(value, bytes):
        return len(value) >= 8 and hashlib.blake2b(value[8:], digest_size=8).digest() == value[:8]
    if isinstance(value, str):
        try:
            _, digest, payload = value.split(':')
            return hashlib.blake2b(bytes.fromhex(payload), digest_size=8).hexdigest() == digest
        except ValueError:
            return False
    return False


def _thread(cache, seed, deadline, stats):
    rng = random.Random(seed)
    key = lambda: 'k%d' % rng.randrange(KEYS)  # noqa: E731
    while time.monotonic() < deadline:
        op = rng.randrange(100)
        try:
            if op < 25:
                v = cache.get(key())
                if not verify(v):
                    stats['bad'].append(('get', repr(v)[:80]))
            elif op < 40:
                cache.set(key(), make_value(rng, 'set'), expire=rng.choice((None, None, 0.05, 5)),
                          tag=rng.choice((None, 'evictable')))
            elif op < 45:
                cache.add(key(), make_value(rng, 'add'))
            elif op < 55:
                cache.incr('counter')
                stats['incr'] += 1
            elif op < 60:
                v = cache.pop(key())
                if not verify(v):
                    stats['bad'].append(('pop', repr(v)[:80]))
            elif op < 66:
                cache.delete(key())
            elif op < 70:
                cache.touch(key(), rng.choice((None, 0.05, 10)))
            elif op < 77:
                cache.push(make_value(rng, 'q'), prefix='q')
                stats['pushed'] += 1
            elif op < 83:
                v = cache.pull(prefix='q')[1]
                if v is not None:
                    stats['pulled'] += 1
                    if not verify(v):
                        stats['bad'].append(('pull', repr(v)[:80]))
            elif op < 93:
                with cache.transact():
                    cache.incr('counter')
                    a = cache.get(key())
                    cache.set(key(), make_value(rng, 'tx'))
                    if not verify(a):
                        stats['bad'].append(('tx-get', repr(a)[:80]))
                stats['incr'] += 1
            elif op < 96:
                cache.expire()
            elif op < 98:
                cache.cull()
            else:
                cache.evict('evictable')
        except Exception:  # noqa: BLE001 - every failure is a finding
            stats['errors'].append(traceback.format_exc()[-600:])


def _worker(directory, seed, deadline_seconds, results):
    cache = diskcache_swift.Cache(directory, timeout=60)
    deadline = time.monotonic() + deadline_seconds
    per_thread = [{'incr': 0, 'pushed': 0, 'pulled': 0, 'bad': [], 'errors': []} for _ in range(THREADS)]
    threads = [threading.Thread(target=_thread, args=(cache, seed * 100 + i, deadline, per_thread[i])) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.close()
    total = {k: sum(s[k] for s in per_thread) for k in ('incr', 'pushed', 'pulled')}
    total['bad'] = [b for s in per_thread for b in s['bad']]
    total['errors'] = [e for s in per_thread for e in s['errors']]
    results.put(total)


@pytest.mark.parametrize('policy', ['least-recently-stored', 'least-recently-used'])
def test_stress(tmpdir_path, policy):
    # Half the time each: with least-recently-used every hit is a write too.
    seconds = SECONDS / 2
    seed = int(os.environ.get('DCS_STRESS_SEED', random.randrange(1 << 30)))
    ctx = mp.get_context('spawn')
    results = ctx.Queue()
    cache = diskcache_swift.Cache(tmpdir_path, disk_min_file_size=32768, eviction_policy=policy)
    cache.set('counter', 0)
    procs = [ctx.Process(target=_worker, args=(tmpdir_path, seed + i, seconds, results)) for i in range(PROCESSES)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, ('seed', seed, p.exitcode)
    print('stress seed', seed, [{k: r[k] for k in ('incr', 'pushed', 'pulled')} for r in reports])
    errors = [e for r in reports for e in r['errors']]
    bad = [b for r in reports for b in r['bad']]
    assert errors == [], ('seed', seed, len(errors), errors[:3])
    assert bad == [], ('seed', seed, bad[:5])

    assert cache.get('counter') == sum(r['incr'] for r in reports), ('seed', seed)
    for key in list(cache.iterkeys()):
        assert verify(cache.get(key)), ('seed', seed, key)
    remaining = 0
    while cache.pull(prefix='q')[1] is not None:
        remaining += 1
    assert remaining == sum(r['pushed'] for r in reports) - sum(r['pulled'] for r in reports), ('seed', seed)
    assert [str(w.message) for w in cache.check()] == [], ('seed', seed)
    cache.close()
