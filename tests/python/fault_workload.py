"""Child process of test_faults.py: writes keys to a cache (usually under a fault injector)
and reports, one JSON line per key, whether each write was acknowledged or failed and how.

    python3 fault_workload.py DIRECTORY SPEC_JSON

SPEC: {"n": 40, "prefix": "k", "large_every": 0, "settings": {...}, "network": false}
A value depends only on its key (fault_value), so the parent can verify what it reads.
"""
import json
import sys


def fault_value(key, large):
    """Deterministic bytes for a key: over 32 KiB (a value file) when `large`."""
    seed = key.encode()
    size = 40_000 + len(seed) * 97 if large else 100 + len(seed) * 7
    return (seed + b':' + bytes(range(256)) * (size // 256 + 1))[:size]


def is_large(spec, i):
    every = spec.get('large_every', 0)
    return bool(every) and i % every == 0


def main():
    directory, spec = sys.argv[1], json.loads(sys.argv[2])
    import diskcache_swift

    def report(**fields):
        sys.stdout.write(json.dumps(fields) + '\n')
        sys.stdout.flush()

    try:
        cache = diskcache_swift.Cache(directory, network=spec.get('network', False), **spec.get('settings', {}))
    except OSError as e:
        report(open_failed=True, type=type(e).__name__, errno=e.errno, msg=str(e))
        return
    acked = {}
    for i in range(spec['n']):
        key = '%s%d' % (spec.get('prefix', 'k'), i)
        value = fault_value(key, is_large(spec, i))
        try:
            cache.set(key, value)
        except Exception as e:  # reported, the parent judges the type
            report(fail=key, type=type(e).__name__, mro=[c.__name__ for c in type(e).__mro__],
                   errno=getattr(e, 'errno', None), msg=str(e))
            continue
        acked[key] = value
        report(ack=key)
    # Reads in the same process after the faults: every acknowledged value, exactly.
    for key, value in acked.items():
        try:
            got = cache.get(key)
        except Exception as e:
            report(read_error=key, type=type(e).__name__, msg=str(e))
            continue
        if got != value:
            report(read_wrong=key, got_len=None if got is None else len(got))
    report(done=True)


if __name__ == '__main__':
    main()
