"""Numeric settings that are not finite numbers (found while fuzzing the open path).

`SettingValue.intValue` used to trap on NaN, infinities and floats beyond Int64, after the
override was persisted, so every later open of the directory died too. Now NaN is rejected
with ValueError (nothing persisted) and out-of-range values saturate. Each case runs in a
child process so a crash is a failure, not the end of the test run.
"""
import subprocess
import sys

import pytest

SCRIPT = '''
import sys, diskcache_swift
value = float(sys.argv[2])
try:
    diskcache_swift.Cache(sys.argv[1], size_limit=value)
except (ValueError, OverflowError):
    pass   # rejecting the value is fine too
cache = diskcache_swift.Cache(sys.argv[1])
cache.set('a', 1)
# A limit below any volume culls what was just stored (python-diskcache culls after the insert).
expected = None if value < 0 else 1
assert cache.get('a') == expected, cache.get('a')
print('ok')
'''


@pytest.mark.parametrize('value', ['nan', 'inf', '-inf', '1e300'])
def test_non_finite_size_limit_does_not_kill_the_process(tmpdir_path, value):
    proc = subprocess.run([sys.executable, '-c', SCRIPT, tmpdir_path, value], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', (proc.returncode, proc.stderr[-500:])


def test_nan_size_limit_is_rejected_and_nothing_persisted(tmpdir_path):
    import diskcache_swift
    with pytest.raises(ValueError):
        diskcache_swift.Cache(tmpdir_path, size_limit=float('nan'))
    assert diskcache_swift.Cache(tmpdir_path).size_limit == 2**30


def test_large_finite_float_size_limit_works(tmpdir_path):
    proc = subprocess.run([sys.executable, '-c', SCRIPT, tmpdir_path, '1e12'], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', (proc.returncode, proc.stderr[-500:])
