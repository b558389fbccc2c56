"""Many processes on several mounts of one share, all using the same cache directory.

Each mount is a separate network client of one share (scripts/netfs/), so the processes on
different mounts behave like processes on different hosts. For `seconds`, every process does
random operations and keeps the books needed to judge the cache afterwards:

- set/get/delete over a few hundred keys. Every value carries its writer, a sequence number,
  its key and a SHA-256 of all of it, and its payload is a function of those, so a read that
  returns anything else (bad checksum, another key's value, a payload nobody wrote, a sequence
  number its writer never reached) is a corrupt read.
- incr on a few shared counters; each process counts the increments acknowledged to it, so a
  counter must end at the sum.
- a lock made with add(expire=…): holding it, a process reads a plain counter and sets it one
  higher, then deletes the lock. The plain counter must end at the number of acknowledged
  critical sections, and inside a critical section the lock must still name its holder.

Exceptions are counted by type and message. Afterwards the cache is opened again through each
mount: counters, every stored value and check() are verified.

    python3 tests/python/netfs_workload.py --rig sshfs --impl diskcache --seconds 20

brings the rig up under a temporary directory, runs, tears down and prints the summary as JSON.
`run_workload(mounts, …)` does the same on mounts that are already there.
"""

import argparse
import collections
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import struct
import sys
import tempfile
import time

KEYS = ['k%03d' % i for i in range(300)]
COUNTERS = ['ctr%d' % i for i in range(4)]
LOCK_KEY = 'lock'
PLAIN_KEY = 'plain'
LOCK_LEASE = 30  # seconds; far longer than a critical section, so only a bug can break it

MAGIC = b'NFW1'
HEADER = struct.Struct('<4sHIH')  # magic, writer, seq, key length
DIGEST_SIZE = 32

# Weights of the operations a process picks from.
OPERATIONS = (('get', 38), ('set', 24), ('delete', 6), ('incr', 20), ('lock', 12))

START_DELAY = 1.0  # seconds between forking the processes and their common start
VERIFY_OPEN_SECONDS = 5  # opening may fail transiently on SMB; retried this long
GRACE = 120  # seconds a process may overrun its time before it counts as hung
MAX_ERROR_KINDS = 40


def payload_for(writer, seq, key, size):
    """The payload of `writer`'s `seq`-th value for `key`: anyone can recompute it."""
    return hashlib.shake_128(b'%d|%d|%s' % (writer, seq, key.encode())).digest(size)


def encode_value(writer, seq, key, size):
    """A value that carries its writer, sequence number, key and checksum."""
    keyb = key.encode()
    body = HEADER.pack(MAGIC, writer, seq, len(keyb)) + keyb + payload_for(writer, seq, key, size)
    return body + hashlib.sha256(body).digest()


def decode_value(key, value, writers):
    """(writer, seq) of a well-formed value written for `key`, or a string saying what is wrong."""
    if not isinstance(value, bytes):
        return 'not bytes but %s' % type(value).__name__
    if len(value) < HEADER.size + DIGEST_SIZE:
        return 'too short (%d bytes)' % len(value)
    body, digest = value[:-DIGEST_SIZE], value[-DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        return 'checksum mismatch (%d bytes)' % len(value)
    magic, writer, seq, keylen = HEADER.unpack_from(body)
    if magic != MAGIC:
        return 'bad magic'
    vkey = body[HEADER.size:HEADER.size + keylen].decode(errors='replace')
    if vkey != key:
        return 'value of key %r returned for key %r' % (vkey, key)
    if writer not in writers:
        return 'unknown writer %d' % writer
    payload = body[HEADER.size + keylen:]
    if payload != payload_for(writer, seq, key, len(payload)):
        return 'payload nobody wrote'
    return writer, seq


def value_size(rng):
    r = rng.random()
    if r < 0.90:
        return rng.randint(16, 1024)
    if r < 0.98:
        return rng.randint(1024, 16384)
    return rng.randint(40000, 120000)  # stored as value files by both implementations


_PATHS = re.compile(r"'/[^']*'|\"/[^\"]*\"|(?<![\w'\"])/[\w./-]+")


def error_kind(exc):
    """`module.Type: message` with file paths elided, so that equal failures count together."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == 'builtins' else '%s.%s' % (cls.__module__, cls.__qualname__)
    message = _PATHS.sub('<path>', str(exc))[:160]
    return '%s: %s' % (name, message) if message else name


def _count_error(errors, exc):
    kind = error_kind(exc)
    if kind not in errors and len(errors) >= MAX_ERROR_KINDS:
        kind = type(exc).__qualname__ + ': (other messages)'
    errors[kind] += 1


def open_cache(impl, directory, network=None):
    """A Cache of `impl` on `directory`; `network` (None: auto) is passed only when not None."""
    if impl == 'diskcache_swift':
        import diskcache_swift

        return diskcache_swift.Cache(directory, **({} if network is None else {'network': network}))
    if impl == 'diskcache':
        if network is not None:
            raise ValueError('python-diskcache has no network mode')
        import diskcache

        return diskcache.Cache(directory)
    raise ValueError('unknown impl %r' % impl)


class _Books:
    """What one process did, in a form that survives the trip to the parent."""

    def __init__(self, writer):
        self.writer = writer
        self.ops_ok = collections.Counter()
        self.ops_failed = collections.Counter()
        self.errors = collections.Counter()
        self.corrupt = collections.Counter()
        self.incr_acked = collections.Counter()
        self.incr_uncertain = collections.Counter()
        self.sections = 0  # critical sections whose set was acknowledged
        self.sections_uncertain = 0  # … whose set raised: it may or may not have happened
        self.lock_busy = 0
        self.lock_violations = 0  # inside the critical section, the lock named someone else
        self.max_seq = 0
        self.seen_seq = {}  # writer → highest sequence number read back
        self.max_op_seconds = 0.0
        self.opened = False
        self.fatal = None

    def as_dict(self):
        return {k: (dict(v) if isinstance(v, collections.Counter) else v) for k, v in vars(self).items()}


def _open_with_retry(impl, directory, network, errors, until):
    """The cache, or None when opening it failed until `until` (errors counted in `errors`)."""
    while True:
        try:
            return open_cache(impl, directory, network)
        except TypeError:
            raise
        except Exception as exc:  # python-diskcache can fail to open a damaged database
            _count_error(errors, exc)
            if time.time() >= until:
                return None
            time.sleep(0.1)


def _worker(impl, directory, network, writer, writers, start_at, seconds, seed, conn):
    books = _Books(writer)
    rng = random.Random(seed)
    names = [name for name, _ in OPERATIONS]
    weights = [weight for _, weight in OPERATIONS]
    cache = None
    try:
        cache = _open_with_retry(impl, directory, network, books.errors, start_at + seconds)
        books.opened = cache is not None
        time.sleep(max(0.0, start_at - time.time()))
        end = time.monotonic() + seconds
        while cache is not None and time.monotonic() < end:
            op = rng.choices(names, weights)[0]
            t0 = time.monotonic()
            try:
                _one_op(cache, op, rng, books, writers)
                books.ops_ok[op] += 1
            except Exception as exc:
                books.ops_failed[op] += 1
                _count_error(books.errors, exc)
            books.max_op_seconds = max(books.max_op_seconds, time.monotonic() - t0)
    except BaseException as exc:
        books.fatal = error_kind(exc)
    finally:
        if cache is not None:
            try:
                cache.close()
            except Exception as exc:
                _count_error(books.errors, exc)
        conn.send(books.as_dict())
        conn.close()


def _one_op(cache, op, rng, books, writers):
    if op == 'get':
        key = rng.choice(KEYS)
        value = cache.get(key, retry=True)
        if value is not None:
            _judge(key, value, books, writers)
    elif op == 'set':
        key = rng.choice(KEYS)
        books.max_seq += 1
        cache.set(key, encode_value(books.writer, books.max_seq, key, value_size(rng)), retry=True)
    elif op == 'delete':
        cache.delete(rng.choice(KEYS), retry=True)
    elif op == 'incr':
        name = rng.choice(COUNTERS)
        try:
            cache.incr(name, retry=True)
        except Exception:
            books.incr_uncertain[name] += 1
            raise
        books.incr_acked[name] += 1
    elif op == 'lock':
        _critical_section(cache, books)


def _critical_section(cache, books):
    me = 'w%d' % books.writer
    if not cache.add(LOCK_KEY, me, expire=LOCK_LEASE, retry=True):
        books.lock_busy += 1
        return
    try:
        holder = cache.get(LOCK_KEY, retry=True)
        if holder != me:
            books.lock_violations += 1
        value = cache.get(PLAIN_KEY, 0, retry=True)
        try:
            cache.set(PLAIN_KEY, value + 1, retry=True)
        except Exception:
            books.sections_uncertain += 1
            raise
        books.sections += 1
    finally:
        cache.delete(LOCK_KEY, retry=True)


def _judge(key, value, books, writers):
    verdict = decode_value(key, value, writers)
    if isinstance(verdict, str):
        books.corrupt[verdict] += 1
        return
    writer, seq = verdict
    if seq > books.seen_seq.get(writer, 0):
        books.seen_seq[writer] = seq


def _merge(summary, books_list):
    ops_ok, ops_failed = collections.Counter(), collections.Counter()
    errors, corrupt = collections.Counter(), collections.Counter()
    incr_acked, incr_uncertain = collections.Counter(), collections.Counter()
    max_seq, seen_seq = {}, {}
    sections = sections_uncertain = lock_busy = lock_violations = 0
    max_op = 0.0
    for books in books_list:
        ops_ok.update(books['ops_ok'])
        ops_failed.update(books['ops_failed'])
        errors.update(books['errors'])
        corrupt.update(books['corrupt'])
        incr_acked.update(books['incr_acked'])
        incr_uncertain.update(books['incr_uncertain'])
        sections += books['sections']
        sections_uncertain += books['sections_uncertain']
        lock_busy += books['lock_busy']
        lock_violations += books['lock_violations']
        max_seq[books['writer']] = books['max_seq']
        for writer, seq in books['seen_seq'].items():
            seen_seq[writer] = max(seen_seq.get(writer, 0), seq)
        max_op = max(max_op, books['max_op_seconds'])
        if books['fatal']:
            summary['worker_failures'].append('writer %d: %s' % (books['writer'], books['fatal']))
        if not books['opened']:
            summary['worker_failures'].append('writer %d: never opened the cache' % books['writer'])
    for writer, seq in seen_seq.items():
        if writer in max_seq and seq > max_seq[writer]:
            corrupt['sequence number its writer never reached'] += 1
    summary['ops'] = {op: {'ok': ops_ok[op], 'failed': ops_failed[op]}
                      for op in sorted(set(ops_ok) | set(ops_failed))}
    summary['ops_ok'] = sum(ops_ok.values())
    summary['ops_failed'] = sum(ops_failed.values())
    summary['errors'] = dict(errors.most_common())
    summary['corrupt_reads'] = sum(corrupt.values())
    summary['corrupt_kinds'] = dict(corrupt.most_common())
    summary['max_op_seconds'] = round(max_op, 3)
    summary['lock'] = {'sections': sections, 'sections_uncertain': sections_uncertain,
                       'busy': lock_busy, 'violations': lock_violations}
    return incr_acked, incr_uncertain, sections, sections_uncertain, max_seq


def _verify(impl, mounts, name, network, summary, incr_acked, incr_uncertain, sections,
            sections_uncertain, max_seq):
    """Reopens the cache through each mount after the run: counters through every mount, the
    stored values and check() through the first mount that opens."""
    verify_errors = collections.Counter()
    writers = set(max_seq)
    summary['stored_values'] = {'values': 0, 'corrupt': 0, 'corrupt_kinds': {}}
    summary['check'] = {'warnings': None, 'raised': None, 'examples': [],
                        'not_run': 'the cache did not open through any mount'}
    counters = {}
    by_mount = []
    contents_verified = False
    for mount in mounts:
        seen = {}
        cache = _open_with_retry(impl, os.path.join(mount, name), network, verify_errors,
                                 time.time() + VERIFY_OPEN_SECONDS)
        if cache is None:
            by_mount.append(None)
            continue
        try:
            for counter in COUNTERS + [PLAIN_KEY]:
                try:
                    seen[counter] = _json_safe(cache.get(counter, 0, retry=True))
                except Exception as exc:
                    _count_error(verify_errors, exc)
                    seen[counter] = 'error'
            if not contents_verified:
                _verify_contents(cache, summary, verify_errors, writers, max_seq)
                contents_verified = True
        finally:
            cache.close()
        by_mount.append(seen)
    first = next((seen for seen in by_mount if seen is not None), {})
    for counter in COUNTERS:
        expected = incr_acked[counter]
        counters[counter] = {'expected': expected, 'uncertain': incr_uncertain[counter],
                             'actual': first.get(counter)}
    counters[PLAIN_KEY] = {'expected': sections, 'uncertain': sections_uncertain,
                           'actual': first.get(PLAIN_KEY)}
    mismatches = 0
    for entry in counters.values():
        actual = entry['actual']
        exact = actual == entry['expected']
        within = isinstance(actual, int) and entry['expected'] <= actual <= entry['expected'] + entry['uncertain']
        entry['status'] = 'exact' if exact else ('within uncertain' if within else 'MISMATCH')
        mismatches += not within
    summary['counters'] = counters
    summary['counter_mismatches'] = mismatches
    summary['counters_by_mount'] = by_mount
    summary['mounts_agree'] = all(seen == by_mount[0] for seen in by_mount) and by_mount[0] is not None
    summary['verify_errors'] = dict(verify_errors.most_common())


def _json_safe(value):
    return value if value is None or type(value) in (int, str) else repr(value)[:80]


def _verify_contents(cache, summary, verify_errors, writers, max_seq):
    known = set(KEYS) | set(COUNTERS) | {PLAIN_KEY, LOCK_KEY}
    bad = collections.Counter()
    stored = 0
    try:
        keys = list(cache)
    except Exception as exc:
        _count_error(verify_errors, exc)
        keys = list(KEYS)
    for key in keys:
        if key not in known:
            bad['unexpected key %r' % (key,)] += 1
            continue
        if key not in KEYS:
            continue
        try:
            value = cache.get(key, retry=True)
        except Exception as exc:
            _count_error(verify_errors, exc)
            continue
        if value is None:
            continue
        stored += 1
        verdict = decode_value(key, value, writers)
        if isinstance(verdict, str):
            bad[verdict] += 1
        elif verdict[1] > max_seq.get(verdict[0], 0):
            bad['sequence number its writer never reached'] += 1
    summary['stored_values'] = {'values': stored, 'corrupt': sum(bad.values()),
                                'corrupt_kinds': dict(bad.most_common(10))}
    try:
        warnings = [str(getattr(w, 'message', w)) for w in cache.check(retry=True)]
        summary['check'] = {'warnings': len(warnings), 'raised': None, 'not_run': None,
                            'examples': [_PATHS.sub('<path>', w) for w in warnings[:10]]}
    except Exception as exc:
        summary['check'] = {'warnings': None, 'raised': error_kind(exc), 'not_run': None, 'examples': []}


def _exit_status(code):
    if code is None:
        return 'still running'
    if code < 0:
        try:
            return 'killed by %s' % signal.Signals(-code).name
        except ValueError:
            return 'killed by signal %d' % -code
    return 'exit status %d' % code


def run_workload(mounts, impl='diskcache_swift', seconds=20, procs_per_mount=2, network=None,
                 name='cache', seed=None):
    """Runs the workload on `mounts` (paths of one share) and returns its summary (a dict).

    `procs_per_mount` processes per mount open `mount/name` for `seconds`; then the cache is
    reopened through every mount and verified. `summary['ok']` is true when nothing went
    wrong: no errors, no corrupt reads or values, exact counters, the mounts agree and
    check() is clean. Opening the cache with `network` happens here first, so a TypeError
    from an implementation that does not accept it propagates.
    """
    seed = random.randrange(1 << 30) if seed is None else seed
    summary = {'impl': impl, 'network': network, 'seconds': seconds, 'mounts': len(mounts),
               'processes': len(mounts) * procs_per_mount, 'seed': seed, 'worker_failures': [],
               'hung_workers': 0}
    probe = open_cache(impl, os.path.join(mounts[0], name), network)  # creates the cache
    probe.close()

    ctx = multiprocessing.get_context('fork')
    writers = list(range(1, len(mounts) * procs_per_mount + 1))
    start_at = time.time() + START_DELAY
    procs = []
    for writer in writers:
        mount = mounts[(writer - 1) % len(mounts)]
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, daemon=True, args=(
            impl, os.path.join(mount, name), network, writer, set(writers), start_at, seconds,
            seed * 1000 + writer, sender))
        proc.start()
        sender.close()
        procs.append((writer, proc, receiver))
    books_list = []
    deadline = start_at + seconds + GRACE
    for writer, proc, receiver in procs:
        if receiver.poll(max(0.0, deadline - time.time())):
            try:
                books_list.append(receiver.recv())
            except EOFError:  # it died before reporting, e.g. SIGBUS from a shrunken mmap
                proc.join(10)
                summary['worker_failures'].append('writer %d died: %s' % (writer, _exit_status(proc.exitcode)))
        else:
            summary['hung_workers'] += 1
            proc.kill()
        proc.join(10)
    merged = _merge(summary, books_list)
    _verify(impl, mounts, name, network, summary, *merged)
    summary['ok'] = (not summary['errors'] and not summary['verify_errors']
                     and summary['corrupt_reads'] == 0 and summary['stored_values']['corrupt'] == 0
                     and summary['lock']['violations'] == 0
                     and all(c['status'] == 'exact' for c in summary['counters'].values())
                     and summary['mounts_agree'] and summary['check']['warnings'] == 0
                     and not summary['worker_failures'] and summary['hung_workers'] == 0)
    return summary


VISIBILITY_KEY = 'visibility'
VISIBILITY_MAX_MISSES = 2  # rounds not seen within the timeout before measuring stops


def _visibility_reader(impl, directory, network, rounds, timeout, conn):
    errors = collections.Counter()
    try:
        cache = open_cache(impl, directory, network)
    except BaseException as exc:
        conn.send(('failed', error_kind(exc)))
        conn.close()
        return
    conn.send(('ready',))
    misses = 0
    for r in range(rounds):
        give_up = time.monotonic() + timeout
        seen = None
        while time.monotonic() < give_up:
            try:
                if cache.get(VISIBILITY_KEY, retry=True) == r:
                    seen = time.monotonic()
                    break
            except Exception as exc:
                _count_error(errors, exc)
                time.sleep(0.01)
            time.sleep(0.0005)
        conn.send(('round', r, seen))
        misses += seen is None
        if misses >= VISIBILITY_MAX_MISSES:
            break
    cache.close()
    conn.send(('errors', dict(errors)))
    conn.close()


def measure_visibility(mounts, impl='diskcache_swift', network=None, rounds=10, timeout=5,
                       name='visibility'):
    """How long after a set acknowledged through mounts[0] a get through mounts[1] returns it.

    A process on mounts[1] polls (every 0.5 ms) while this one sets a new value each round; both
    read CLOCK_MONOTONIC, which the processes share. A round not seen within `timeout` seconds
    is a miss; measuring stops after two misses. Returns {'delays': seconds per round (None for
    a miss), 'max', 'median' (of the rounds seen), 'missed', 'errors' (of the reader's gets,
    by kind), 'writer_errors'}.
    """
    directory = os.path.join(mounts[0], name)
    writer = open_cache(impl, directory, network)
    writer.delete(VISIBILITY_KEY, retry=True)
    writer.close()
    ctx = multiprocessing.get_context('fork')
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_visibility_reader, daemon=True, args=(
        impl, os.path.join(mounts[1], name), network, rounds, timeout, sender))
    proc.start()
    sender.close()
    delays, writer_errors = [], collections.Counter()
    result = {'errors': {}}

    def receive():
        if not receiver.poll(timeout + 60):
            raise RuntimeError('the visibility reader stopped answering')
        message = receiver.recv()
        if message[0] == 'failed':
            raise RuntimeError('the visibility reader could not open the cache: %s' % message[1])
        return message

    try:
        receive()  # ready
        writer = open_cache(impl, directory, network)
        try:
            for r in range(rounds):
                time.sleep(0.02)
                try:
                    writer.set(VISIBILITY_KEY, r, retry=True)
                except Exception as exc:
                    _count_error(writer_errors, exc)
                acked = time.monotonic()
                _, _, seen = receive()
                delays.append(None if seen is None else round(max(0.0, seen - acked), 6))
                if delays.count(None) >= VISIBILITY_MAX_MISSES:
                    break
        finally:
            writer.close()
        result['errors'] = receive()[1]
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    seen = sorted(d for d in delays if d is not None)
    result.update(delays=delays, missed=delays.count(None), writer_errors=dict(writer_errors),
                  max=seen[-1] if seen else None, median=seen[len(seen) // 2] if seen else None)
    return result


def _main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rig', choices=['sshfs', 'smb', 'local'], required=True,
                        help='local: every "mount" is the same local directory')
    parser.add_argument('--impl', choices=['diskcache_swift', 'diskcache'], default='diskcache_swift')
    parser.add_argument('--seconds', type=float, default=20)
    parser.add_argument('--mounts', type=int, default=2)
    parser.add_argument('--procs-per-mount', type=int, default=2)
    parser.add_argument('--network', choices=['auto', 'true', 'false'], default='auto',
                        help="diskcache_swift's network= (auto: not passed)")
    parser.add_argument('--visibility', action='store_true',
                        help='also measure set→get visibility across mounts')
    parser.add_argument('--base', help='rig directory (default: a new temporary one, removed after)')
    args = parser.parse_args()
    network = {'auto': None, 'true': True, 'false': False}[args.network]

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import netfs

    base = args.base or tempfile.mkdtemp(prefix='dcs-netfs-')
    try:
        if args.rig == 'local':
            paths = [os.path.join(base, 'local')] * args.mounts
            os.makedirs(paths[0], exist_ok=True)
            summary = _run_and_measure(paths, args, network)
        else:
            reason = netfs.skip_reason(args.rig)
            if reason:
                sys.exit('cannot run the %s rig: %s' % (args.rig, reason))
            with netfs.mounts(args.rig, base, args.mounts) as paths:
                summary = _run_and_measure(paths, args, network)
        summary['rig'] = args.rig
    finally:
        if not args.base:
            shutil.rmtree(base, ignore_errors=True)
    json.dump(summary, sys.stdout, indent=2)
    print()


def _run_and_measure(paths, args, network):
    summary = run_workload(paths, args.impl, args.seconds, args.procs_per_mount, network)
    if args.visibility:
        summary['visibility'] = measure_visibility(paths, args.impl, network)
    return summary


if __name__ == '__main__':
    _main()
