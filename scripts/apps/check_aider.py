"""aider's repository map caches each file's tags in a diskcache Cache (RepoMap.TAGS_CACHE).
aider silently falls back to a dict when the cache raises sqlite3/OS errors, which would hide a
failure of ours, so this builds a map and checks the cache really is the expected package's.

    python check_aider.py EXPECTED_PACKAGE      # diskcache_swift, or diskcache for the reference
"""

import os
import subprocess
import sys
import tempfile

from aider.io import InputOutput
from aider.models import Model
from aider.repomap import RepoMap

os.chdir(tempfile.mkdtemp(prefix='aider-repo-'))
subprocess.run(['git', 'init', '-q'], check=True)
with open('a.py', 'w') as f:
    f.write('def alpha():\n    return 1\n\nclass Beta:\n    def gamma(self):\n        return alpha()\n')
repo_map = RepoMap(root='.', main_model=Model('gpt-3.5-turbo'), io=InputOutput())
text = repo_map.get_repo_map([], [os.path.abspath('a.py')])
cache = repo_map.TAGS_CACHE
assert type(cache).__module__.split('.')[0] == sys.argv[1], 'tags cache is %r' % type(cache)
assert len(cache) == 1 and 'alpha' in text, (len(cache), text)
print('aider RepoMap tags cache: %s, %d entry' % (type(cache).__module__, len(cache)))
