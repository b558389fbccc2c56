"""scripts/diskcache_shim (what scripts/apps.sh runs applications with): `import diskcache`
and its submodules give diskcache_swift's, so an application's isinstance checks, Disk
subclasses and `from diskcache.core import ...` all meet the same objects."""

import os
import subprocess
import sys

import diskcache_swift

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = r'''
import diskcache, diskcache_swift
from diskcache import Cache, Disk
from diskcache.core import MODE_PICKLE, ENOVAL, args_to_key
import diskcache.fanout, diskcache.persistent, diskcache.recipes
assert diskcache is diskcache_swift and Cache is diskcache_swift.Cache
assert diskcache.core is diskcache_swift.core and diskcache.fanout is diskcache_swift.fanout
assert MODE_PICKLE == 4 and ENOVAL is diskcache_swift.ENOVAL
print('shim ok')
'''


def test_import_diskcache_gives_diskcache_swift():
    # diskcache_swift from where this test process has it (installed, or built in place)
    path = os.pathsep.join([os.path.join(ROOT, 'scripts', 'diskcache_shim'), os.path.dirname(os.path.dirname(diskcache_swift.__file__))])
    result = subprocess.run(
        [sys.executable, '-c', PROGRAM], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'shim ok'
