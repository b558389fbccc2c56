"""On-disk format v2 seen from Python: the repros of issue 9 (shared/repros rev-r3, adv-r07)
and the refusal of a newer format. The engine's own tests (Tests/DiskCacheTests/FormatTests)
flip every bit of the control page and snapshot headers; these check the Python surface."""
import os
import struct
import subprocess
import sys

import pytest

import diskcache_swift as dc


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize('segment_id', [2**24 - 1, 2**24, 2**40])
def test_large_segment_ids_open(tmpdir_path, segment_id):
    # rev-r3: the head packed the segment id into 24 bits.
    open(os.path.join(tmpdir_path, 'segment-%012d.dcl' % segment_id), 'wb').close()
    c = dc.Cache(tmpdir_path)
    c.set('a', 1)
    c.close()
    c = dc.Cache(tmpdir_path)
    assert c.get('a') == 1
    c.check()
    c.close()


@pytest.mark.parametrize('how', ['truncate', 'delete'])
def test_snapshot_of_a_log_that_lost_its_tail_is_not_used(tmpdir_path, how):
    # adv-r07: the stale snapshot was trusted once the log grew back past its end.
    def run(code):
        subprocess.run([sys.executable, '-c', 'import diskcache_swift as dc\nc = dc.Cache(%r)\n' % tmpdir_path + code],
                       check=True)
    run('for i in range(20000): c.set(f"old{i}", "o" * 60)\nc.close()')
    assert any(n.startswith('snapshot-') for n in os.listdir(tmpdir_path))
    seg = os.path.join(tmpdir_path, 'segment-000000000001.dcl')
    if how == 'truncate':
        os.truncate(seg, 512 * 1024)
    else:
        os.unlink(seg)
    run('for i in range(25000): c.set(f"new{i}", "n" * 60)\nc.close()')
    c = dc.Cache(tmpdir_path)
    assert sum(c.get(f'new{i}') is None for i in range(25000)) == 0
    assert len(c) == len(list(c))
    assert c.check() == []
    c.close()


def test_a_newer_segment_is_refused_with_its_name_and_version(tmpdir_path):
    c = dc.Cache(tmpdir_path)
    c.set('a', 1)
    c.close()
    seg = os.path.join(tmpdir_path, 'segment-000000000001.dcl')
    data = bytearray(open(seg, 'rb').read())
    for copy in (0, 64):
        data[copy + 8:copy + 12] = struct.pack('<I', 3)
        data[copy + 60:copy + 64] = struct.pack('<I', crc32c(bytes(data[copy:copy + 60])))
    open(seg, 'wb').write(data)
    os.unlink(os.path.join(tmpdir_path, 'control'))
    with pytest.raises(OSError) as info:
        dc.Cache(tmpdir_path)
    assert seg in str(info.value) and 'version 3' in str(info.value)
    assert open(seg, 'rb').read() == bytes(data)
