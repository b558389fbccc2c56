"""One cache directory used from several network clients of one share (issue 5).

Each rig (scripts/netfs/: sshfs, Samba) gives two independent client mounts of one share, so
processes on different mounts behave like processes on different hosts. The workload
(netfs_workload.py) runs set/get/delete with self-checking values, incr on shared counters and
add-based locks from two processes per mount, then verifies everything through every mount.
The rigs need root and FUSE; the tests skip, saying why, only where the rigs cannot run.
"""

import functools
import hashlib
import json
import os
import shutil
import tempfile

import pytest

import netfs
from netfs_workload import decode_value, encode_value, measure_visibility, run_workload

WORKLOAD_SECONDS = 8
VISIBILITY_BOUND = 2.0  # seconds from an acknowledged set on one mount to a get on another


def requires_network_mode(test):
    """Marks a test that needs `Cache(directory, network=True)`, which is being built: if the
    constructor rejects the argument (TypeError), the test fails, saying so; it never skips."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except TypeError as exc:
            if 'network' in str(exc):
                pytest.fail('diskcache_swift.Cache(..., network=True) is not accepted: %s' % exc)
            raise

    return run


@pytest.fixture(scope='module', params=netfs.RIGS)
def rig(request):
    """(name, [client mount paths]) of a share brought up for this module, torn down after."""
    reason = netfs.skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    base = tempfile.mkdtemp(prefix='dcs-netfs-%s-' % request.param)
    with netfs.mounts(request.param, base, n=2) as mounts:
        yield request.param, mounts
    shutil.rmtree(base, ignore_errors=True)  # only once unmounted: never through a mount


def _report(capsys, text):
    with capsys.disabled():
        print('\n    ' + text)


def _problems(summary):
    """What is wrong in a workload summary, as readable lines (empty when all is well)."""
    problems = []
    if summary['worker_failures'] or summary['hung_workers']:
        problems.append('processes failed: %s, hung: %d' % (summary['worker_failures'], summary['hung_workers']))
    if summary['errors']:
        problems.append('errors during the run: %s' % summary['errors'])
    if summary['verify_errors']:
        problems.append('errors while verifying: %s' % summary['verify_errors'])
    if summary['corrupt_reads']:
        problems.append('%d corrupt reads: %s' % (summary['corrupt_reads'], summary['corrupt_kinds']))
    if summary['stored_values']['corrupt']:
        problems.append('corrupt stored values: %s' % summary['stored_values'])
    for name, counter in summary['counters'].items():
        if counter['status'] != 'exact':
            problems.append('counter %s: expected %s, found %s' % (name, counter['expected'], counter['actual']))
    if summary['lock']['violations']:
        problems.append('%d critical sections found the lock held by another process' % summary['lock']['violations'])
    if not summary['mounts_agree']:
        problems.append('the mounts disagree after the run: %s' % summary['counters_by_mount'])
    if summary['check']['warnings'] != 0:
        problems.append('check(): %s' % summary['check'])
    return problems


@requires_network_mode
def test_workload_network_mode(rig, capsys):
    name, mounts = rig
    summary = run_workload(mounts, 'diskcache_swift', seconds=WORKLOAD_SECONDS, procs_per_mount=2,
                           network=True, name='workload')
    _report(capsys, '%s, network=True: %d ops ok, %d failed, %d critical sections, max op %.3f s' % (
        name, summary['ops_ok'], summary['ops_failed'], summary['lock']['sections'], summary['max_op_seconds']))
    problems = _problems(summary)
    assert not problems, '\n'.join(problems) + '\nsummary: ' + json.dumps(summary, indent=1)
    # The run did real work of every kind, from every process.
    assert all(counts['ok'] > 0 for counts in summary['ops'].values()), summary['ops']
    assert set(summary['ops']) == {'get', 'set', 'delete', 'incr', 'lock'}
    assert summary['lock']['sections'] > 0
    assert summary['stored_values']['values'] > 0
    assert summary['ok']


@requires_network_mode
def test_set_on_one_mount_is_seen_on_the_other(rig, capsys):
    name, mounts = rig
    result = measure_visibility(mounts, 'diskcache_swift', network=True, rounds=10)
    _report(capsys, '%s, network=True: set on mount 1 -> get on mount 2: median %s s, max %s s, missed %d of %d' % (
        name, result['median'], result['max'], result['missed'], len(result['delays'])))
    assert result['errors'] == {} and result['writer_errors'] == {}, result
    assert result['missed'] == 0, result
    assert result['max'] < VISIBILITY_BOUND, result


def test_network_mode_is_detected_through_each_mount(rig):
    """No `network=` given: the mount's filesystem type (FUSE sshfs / smbnetfs) selects it."""
    import diskcache_swift
    name, mounts = rig
    first = diskcache_swift.Cache(os.path.join(mounts[0], 'detect'))
    assert first.network, name
    first.set('k', 1)
    second = diskcache_swift.Cache(os.path.join(mounts[1], 'detect'))
    assert second.network, name
    assert second.get('k') == 1
    first.close()
    second.close()


@pytest.mark.parametrize('impl', ['diskcache_swift', 'diskcache'])
def test_workload_on_a_local_directory_is_clean(tmpdir_path, impl):
    """The harness itself: on one local directory both implementations come out clean, so
    whatever it reports on a share comes from the share."""
    summary = run_workload([tmpdir_path, tmpdir_path], impl, seconds=2, procs_per_mount=2,
                           network=False if impl == 'diskcache_swift' else None)
    assert not _problems(summary), _problems(summary)
    assert summary['ok']
    assert summary['lock']['sections'] > 0 and summary['stored_values']['values'] > 0


def test_values_that_nobody_wrote_are_caught():
    writers = {1, 2}
    value = encode_value(1, 7, 'k001', 300)
    assert decode_value('k001', value, writers) == (1, 7)
    flipped = bytearray(value)
    flipped[40] ^= 1
    assert decode_value('k001', bytes(flipped), writers).startswith('checksum mismatch')
    assert decode_value('k002', value, writers).startswith("value of key 'k001'")
    assert decode_value('k001', encode_value(3, 1, 'k001', 10), writers) == 'unknown writer 3'
    assert decode_value('k001', value[:20], writers).startswith('too short')
    assert decode_value('k001', 5, writers) == 'not bytes but int'
    body = value[:-32 - 300] + bytes(300)  # a well-formed value whose payload nobody wrote
    assert decode_value('k001', body + hashlib.sha256(body).digest(), writers) == 'payload nobody wrote'
