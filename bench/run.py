"""Benchmarks diskcache_swift beside python-diskcache 5.6.3 and diskcache_rs in one run.

    pip install -r bench/requirements.txt    # the peers (pinned) and matplotlib
    python3 bench/run.py [--quick] [--reps N]

Writes docs/benchmarks.md (tables, ratios: > 1 means diskcache_swift is faster) and PNG plots
in docs/. Implementations are interleaved (rep 1: A B C, rep 2: A B C ...) so machine noise
hits all alike; each measurement runs in a fresh process; default settings everywhere; the
first 10% of every timed loop is warm-up and is not counted.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(HERE), 'docs')
IMPLS = {
    'diskcache_swift': 'diskcache_swift',
    'python-diskcache': 'diskcache',
    'diskcache_rs': 'diskcache_rs',
}

# Runs inside a fresh interpreter: prints one JSON object.
WORKER = r'''
import json, os, sys, time, importlib, resource
module_name, kind, directory, params = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t0 = time.perf_counter()
mod = importlib.import_module(module_name)
import_s = time.perf_counter() - t0
out = {'import_s': import_s}

def timed(fn, n, warm):
    lat = []
    for i in range(n):
        t = time.perf_counter_ns()
        fn(i)
        lat.append(time.perf_counter_ns() - t)
    lat = sorted(lat[warm:])
    return {'median_ns': lat[len(lat) // 2], 'p99_ns': lat[min(len(lat) - 1, len(lat) * 99 // 100)]}

if kind == 'ops':
    size, n = params['size'], params['n']
    value = os.urandom(size)
    c = mod.Cache(directory)
    warm = n // 10
    keys = ['key-%d' % i for i in range(n)]
    for op in params['ops']:
        try:
            if op == 'set':
                r = timed(lambda i: c.set(keys[i], value), n, warm)
            elif op == 'get hit':
                r = timed(lambda i: c.get(keys[i]), n, warm)
            elif op == 'get miss':
                r = timed(lambda i: c.get('missing-%d' % i), n, warm)
            elif op == 'in':
                r = timed(lambda i: keys[i] in c, n, warm)
            elif op == 'incr':
                r = timed(lambda i: c.incr('counter-%d' % (i % 100)), n, warm)
            elif op == 'delete':
                r = timed(lambda i: c.delete(keys[i]), n, warm)
            elif op == 'set int key':
                r = timed(lambda i: c.set(i, value), n, warm)
            out[op] = r
        except Exception as e:
            out[op] = {'error': '%s: %s' % (type(e).__name__, str(e)[:80])}
elif kind == 'fill':
    c = mod.Cache(directory)
    value = b'v' * 100
    t = time.perf_counter()
    for i in range(params['n']):
        c['key-%d' % i] = value
    out['fill_s'] = time.perf_counter() - t
    out['rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c.close()  # as an application would; diskcache_swift leaves an index snapshot here
elif kind == 'cold':
    t = time.perf_counter()
    c = mod.Cache(directory)
    v = c.get('key-%d' % (params['n'] // 2))
    out['open_first_get_s'] = time.perf_counter() - t
    out['hit'] = v is not None
    out['rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
elif kind == 'durable':
    settings = {'diskcache_swift': {'durability': 'sync'}, 'diskcache': {'sqlite_synchronous': 2}}.get(module_name)
    if settings is None:
        raise SystemExit('no durable (fsync per write) setting known for ' + module_name)
    c = mod.Cache(directory, **settings)
    value = b'v' * 100
    lat = []
    t = time.perf_counter()
    for i in range(params['n']):
        s = time.perf_counter_ns()
        c.set('key-%d-%d' % (params['seed'], i), value)
        lat.append(time.perf_counter_ns() - s)
    out['wall_s'] = time.perf_counter() - t
    out['lat_ns'] = sorted(lat)
elif kind == 'shape':
    import random
    c = mod.FanoutCache(directory, shards=8)
    rnd = random.Random(params['seed'])
    value = b'v' * 100
    lat = []
    n = params['n']
    # All workers start together, after their interpreters started and imported.
    delay = params['start_at'] - time.time()
    if delay > 0:
        time.sleep(delay)
    t = time.perf_counter()
    for i in range(n):
        k = 'key-%d' % rnd.randrange(100)
        r = rnd.random()
        s = time.perf_counter_ns()
        if r < 0.90:
            c.get(k)
        elif r < 0.99:
            c.set(k, value)
        else:
            c.delete(k)
        lat.append(time.perf_counter_ns() - s)
    out['wall_s'] = time.perf_counter() - t
    out['end'] = time.time()
    out['lat_ns'] = sorted(lat)[:: max(1, n // 2000)]
print(json.dumps(out))
'''


def worker(module, kind, directory, params):
    cmd = [sys.executable, '-c', WORKER, module, kind, directory, json.dumps(params)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        return {'error': result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'exit %d' % result.returncode}
    return json.loads(result.stdout)


def shape_run(module, procs, per_process, kind='shape'):
    """`procs` processes at once, each doing `per_process` operations. Wall time runs from the
    common start (after every interpreter started and imported) to the last one's end."""
    directory = tempfile.mkdtemp(prefix='dcbench-')
    try:
        start_at = time.time() + 1.5 + 0.1 * procs
        cmds = [[sys.executable, '-c', WORKER, module, kind, directory, json.dumps({'n': per_process, 'seed': k, 'start_at': start_at})] for k in range(procs)]
        running = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
        outs = [p.communicate() for p in running]
        if any(p.returncode for p in running):
            failed = next(err for (_, err), p in zip(outs, running) if p.returncode)
            return {'error': failed.strip().splitlines()[-1] if failed.strip() else 'failed'}
        results = [json.loads(o) for o, _ in outs]
        if kind == 'shape':
            wall = max(r['end'] for r in results) - start_at
        else:
            wall = max(r['wall_s'] for r in results)
        lat = sorted(x for r in results for x in r['lat_ns'])
        return {'wall_s': wall, 'median_ns': lat[len(lat) // 2], 'p99_ns': lat[len(lat) * 99 // 100]}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def dir_size(path):
    """Bytes the directory's files occupy on disk (allocated blocks: sparse holes are free)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(root, f)).st_blocks * 512
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true', help='smaller counts (a minute or two)')
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--scale', type=int, default=1_000_000, help='entries for the scale and cold-start runs')
    args = parser.parse_args()
    n_small = 5000 if args.quick else 20000
    scale = 100_000 if args.quick else args.scale
    reps = 1 if args.quick else args.reps
    impls = {}
    for label, module in IMPLS.items():
        probe = subprocess.run([sys.executable, '-c', 'import ' + module], capture_output=True)
        if probe.returncode == 0:
            impls[label] = module
        else:
            print('not installed, left out:', label)

    results = {label: {} for label in impls}

    def record(label, name, value):
        results[label].setdefault(name, []).append(value)

    ops = ['set', 'get hit', 'get miss', 'in', 'incr', 'delete', 'set int key']
    sizes = [(100, n_small, ops), (1024, n_small, ['set', 'get hit']), (65536, 500, ['set', 'get hit']), (1 << 20, 50, ['set', 'get hit'])]
    for rep in range(reps):
        for size, n, size_ops in sizes:
            for label, module in impls.items():
                directory = tempfile.mkdtemp(prefix='dcbench-')
                r = worker(module, 'ops', directory, {'size': size, 'n': n, 'ops': size_ops})
                shutil.rmtree(directory, ignore_errors=True)
                record(label, 'import_s', r.get('import_s'))
                for op in size_ops:
                    name = '%s %s' % (op, fmt_size(size))
                    record(label, name, r.get(op, {'error': r.get('error', 'failed')}))
            print('rep %d: %s values done' % (rep + 1, fmt_size(size)), flush=True)
        for procs in (1, 4, 8):
            for label, module in impls.items():
                record(label, 'shape %d proc' % procs, shape_run(module, procs, 100_000))
        print('rep %d: benchmark shape done' % (rep + 1), flush=True)
        for procs in (1, 4):
            for label, module in impls.items():
                record(label, 'durable %d proc' % procs, shape_run(module, procs, 400 // procs, kind='durable'))
        print('rep %d: durable writes done' % (rep + 1), flush=True)

    for entries in (10_000, scale):
        for label, module in impls.items():
            directory = tempfile.mkdtemp(prefix='dcbench-')
            try:
                fill = worker(module, 'fill', directory, {'n': entries})
                if 'error' in fill:
                    record(label, 'fill %d' % entries, fill)
                    continue
                record(label, 'fill %d' % entries, {'ops_per_s': entries / fill['fill_s'], 'rss_mb': fill['rss_mb'], 'dir_mb': dir_size(directory) / 2**20})
                colds = [worker(module, 'cold', directory, {'n': entries}) for _ in range(3)]
                good = [c for c in colds if 'error' not in c and c.get('hit')]
                if good:
                    record(label, 'cold %d' % entries, {'open_first_get_ms': statistics.median(c['open_first_get_s'] for c in good) * 1000, 'rss_mb': statistics.median(c['rss_mb'] for c in good)})
                else:
                    record(label, 'cold %d' % entries, colds[0] if colds and 'error' in colds[0] else {'error': 'first get missed'})
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        print('scale %d done' % entries, flush=True)

    os.makedirs(DOCS, exist_ok=True)
    with open(os.path.join(DOCS, 'benchmarks.json'), 'w') as f:
        json.dump({'argv': sys.argv[1:], 'results': results}, f, indent=1)
    from report import write_report

    write_report(results, DOCS, ' '.join(['python3', 'bench/run.py'] + sys.argv[1:]))
    print('wrote', os.path.join(DOCS, 'benchmarks.md'))


def fmt_size(size):
    if size >= 1 << 20:
        return '%d MiB' % (size >> 20)
    if size >= 1024:
        return '%d KiB' % (size >> 10)
    return '%d B' % size


if __name__ == '__main__':
    sys.path.insert(0, HERE)
    main()
