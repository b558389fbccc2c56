"""Turns bench/run.py results into docs/benchmarks.md and PNG plots."""

import os
import platform
import statistics
import subprocess

OURS = 'diskcache_swift'


def commit():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip() or '?'
    except OSError:
        return '?'


def combine(samples, field):
    values = [s[field] for s in samples if isinstance(s, dict) and field in s]
    return statistics.median(values) if values else None


def error_of(samples):
    for s in samples:
        if isinstance(s, dict) and 'error' in s:
            return s['error']
    return 'no result'


def fmt_ns(ns):
    if ns is None:
        return '—'
    if ns >= 1e6:
        return '%.1f ms' % (ns / 1e6)
    if ns >= 1e3:
        return '%.2f µs' % (ns / 1e3)
    return '%d ns' % ns


def ratio(theirs, ours, higher_is_better=False):
    if theirs is None or ours is None or ours == 0 or theirs == 0:
        return '—'
    r = ours / theirs if higher_is_better else theirs / ours
    return '%.1f×' % r


def write_report(results, docs, command):
    impls = list(results)
    peers = [i for i in impls if i != OURS]
    lines = ['# Benchmarks: diskcache_swift, python-diskcache 5.6.3, diskcache_rs', '',
             'Regenerate: `%s` (this file and the PNGs beside it are its output). This run: commit %s.' % (command, commit()),
             'Machine: %s, %d cores, Python %s. One run, implementations interleaved, each measurement in a fresh process, default settings, first 10%% of each loop excluded as warm-up. Ratios: peer time / diskcache_swift time (> 1: diskcache_swift is faster).' % (platform.machine(), os.cpu_count(), platform.python_version()), '']
    op_names = [k for k in results.get(OURS, {}) if k.split(' ')[0] in ('set', 'get', 'in', 'incr', 'delete')]
    lines.append('## Per operation (median / p99 latency)')
    lines.append('')
    header = '| operation | ' + ' | '.join(impls) + ' | ' + ' | '.join('vs %s' % p for p in peers) + ' |'
    lines += [header, '|' + '---|' * (1 + len(impls) + len(peers))]
    medians = {}
    for op in op_names:
        row = ['| %s' % op]
        for impl in impls:
            samples = results[impl].get(op, [])
            m, p = combine(samples, 'median_ns'), combine(samples, 'p99_ns')
            medians[(impl, op)] = m
            row.append(('%s / %s' % (fmt_ns(m), fmt_ns(p))) if m is not None else 'fails: %s' % error_of(samples))
        for peer in peers:
            row.append(ratio(medians[(peer, op)], medians[(OURS, op)]))
        lines.append(' | '.join(row) + ' |')
    lines += ['', '## python-diskcache benchmark shape (FanoutCache, 8 shards; every process does 100,000 ops: 90% get, 9% set, 1% delete over 100 keys; wall time from a common start after interpreter start and import to the last process done)', '']
    lines += ['| processes | ' + ' | '.join('%s wall (median / p99 op)' % i for i in impls) + ' | ' + ' | '.join('vs %s' % p for p in peers) + ' |', '|' + '---|' * (1 + len(impls) + len(peers))]
    shape = {}
    for procs in (1, 4, 8):
        name = 'shape %d proc' % procs
        row = ['| %d' % procs]
        for impl in impls:
            samples = results[impl].get(name, [])
            w = combine(samples, 'wall_s')
            shape[(impl, procs)] = w
            row.append('%.2f s (%s / %s)' % (w, fmt_ns(combine(samples, 'median_ns')), fmt_ns(combine(samples, 'p99_ns'))) if w is not None else 'fails: %s' % error_of(samples))
        for peer in peers:
            row.append(ratio(shape[(peer, procs)], shape[(OURS, procs)]))
        lines.append(' | '.join(row) + ' |')
    lines += ['', '## Durable writes (every acknowledged set fsynced: diskcache_swift `durability="sync"`, python-diskcache `sqlite_synchronous=2`; 400 sets split across the processes)', '']
    lines += ['| writers | ' + ' | '.join('%s wall (median / p99 set)' % i for i in impls) + ' | ' + ' | '.join('vs %s' % p for p in peers) + ' |', '|' + '---|' * (1 + len(impls) + len(peers))]
    for procs in (1, 4):
        name = 'durable %d proc' % procs
        row = ['| %d' % procs]
        walls = {}
        for impl in impls:
            samples = results[impl].get(name, [])
            w = combine(samples, 'wall_s')
            walls[impl] = w
            row.append('%.2f s (%s / %s)' % (w, fmt_ns(combine(samples, 'median_ns')), fmt_ns(combine(samples, 'p99_ns'))) if w is not None else 'n/a: %s' % error_of(samples))
        for peer in peers:
            row.append(ratio(walls[peer], walls[OURS]))
        lines.append(' | '.join(row) + ' |')
    lines += ['', '## Scale and cold start (100-byte values)', '']
    lines += ['| measure | ' + ' | '.join(impls) + ' |', '|' + '---|' * (1 + len(impls))]
    scale_names = sorted({k for i in impls for k in results[i] if k.startswith(('fill', 'cold'))}, key=lambda k: (int(k.split()[1]), k))
    for name in scale_names:
        n = int(name.split()[1])
        if name.startswith('fill'):
            for field, label in (('ops_per_s', 'fill %d: sets/s' % n), ('dir_mb', 'fill %d: directory MB' % n), ('rss_mb', 'fill %d: peak RSS MB' % n)):
                lines.append('| %s | ' % label + ' | '.join(fmt_num(combine(results[i].get(name, []), field), results[i].get(name, [])) for i in impls) + ' |')
        else:
            for field, label in (('open_first_get_ms', 'open + first get, %d entries (ms)' % n), ('rss_mb', 'peak RSS after open, %d entries (MB)' % n)):
                lines.append('| %s | ' % label + ' | '.join(fmt_num(combine(results[i].get(name, []), field), results[i].get(name, [])) for i in impls) + ' |')
    lines.append('| import time (ms) | ' + ' | '.join(fmt_num((combine([{'v': x} for x in results[i].get('import_s', []) if x is not None], 'v') or 0) * 1000, []) for i in impls) + ' |')
    lines += ['', '![per operation](bench-ops.png)', '', '![percentiles](bench-percentiles.png)', '', '![multi-process](bench-processes.png)', '']
    with open(os.path.join(docs, 'benchmarks.md'), 'w') as f:
        f.write('\n'.join(lines))
    plot(results, impls, op_names, medians, shape, docs)


def fmt_num(v, samples):
    if v is None:
        return 'fails: %s' % error_of(samples) if samples else '—'
    return '%.0f' % v if v >= 100 else '%.1f' % v


def plot(results, impls, op_names, medians, shape, docs):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    width = 0.8 / len(impls)
    fig, ax = plt.subplots(figsize=(12, 5))
    for k, impl in enumerate(impls):
        xs = [i + k * width for i in range(len(op_names))]
        ys = [medians[(impl, op)] or 0 for op in op_names]
        ax.bar(xs, [y / 1000 for y in ys], width, label=impl)
    ax.set_xticks([i + width for i in range(len(op_names))])
    ax.set_xticklabels(op_names, rotation=40, ha='right')
    ax.set_yscale('log')
    ax.set_ylabel('median latency (µs, log)')
    ax.set_title('Per-operation latency (lower is better)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(docs, 'bench-ops.png'), dpi=90)
    plt.close(fig)

    small = [op for op in op_names if op.endswith(' 100 B')]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k, impl in enumerate(impls):
        xs = [i + k * width for i in range(len(small))]
        med = [(combine(results[impl].get(op, []), 'median_ns') or 0) / 1000 for op in small]
        p99 = [(combine(results[impl].get(op, []), 'p99_ns') or 0) / 1000 for op in small]
        ax.bar(xs, p99, width, alpha=0.35, color='C%d' % k)
        ax.bar(xs, med, width, label='%s (solid: median, pale: p99)' % impl, color='C%d' % k)
    ax.set_xticks([i + width for i in range(len(small))])
    ax.set_xticklabels(small, rotation=30, ha='right')
    ax.set_yscale('log')
    ax.set_ylabel('µs (log)')
    ax.set_title('Latency percentiles, 100-byte values')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(docs, 'bench-percentiles.png'), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for impl in impls:
        procs = [p for p in (1, 4, 8) if shape.get((impl, p))]
        ax.plot(procs, [shape[(impl, p)] for p in procs], marker='o', label=impl)
    ax.set_xlabel('processes')
    ax.set_ylabel('wall time for 100,000 ops (s, log)')
    ax.set_yscale('log')
    ax.set_xticks([1, 4, 8])
    ax.set_title('python-diskcache benchmark shape, FanoutCache(8)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(docs, 'bench-processes.png'), dpi=90)
    plt.close(fig)
