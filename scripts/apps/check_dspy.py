"""dspy's two-level cache (dspy.clients.cache.Cache: an LRU in memory over a 16-shard
FanoutCache on disk) driven through dspy's own API, with `import diskcache` mapped by
scripts/apps.sh. Runs everywhere, unlike dspy's upstream tests (its sdist has none).

    python check_dspy.py EXPECTED_PACKAGE      # diskcache_swift, or diskcache for the reference
"""

import os
import subprocess
import sys
import tempfile

import dspy
from dspy.clients.cache import Cache, request_cache
from litellm import ModelResponse

expected = sys.argv[1]
directory = tempfile.mkdtemp(prefix='dspy-cache-')


def disk_only(**kwargs):
    return Cache(enable_disk_cache=True, enable_memory_cache=False, disk_cache_dir=directory, **kwargs)


cache = disk_only()
module = type(cache.disk_cache).__module__
assert module.split('.')[0] == expected, 'dspy disk cache is %s.%s' % (module, type(cache.disk_cache).__name__)

# A completion as litellm returns it, stored on disk and read back with its usage cleared
# (dspy's cache-hit marker), and a value large enough to live in a file of its own.
request = {'model': 'openai/gpt-4o-mini', 'messages': [{'role': 'user', 'content': 'hi'}], 'api_key': 'k1'}
response = ModelResponse(
    model='gpt-4o-mini',
    choices=[{'message': {'role': 'assistant', 'content': 'hello'}}],
    usage={'prompt_tokens': 3, 'completion_tokens': 1, 'total_tokens': 4},
)
cache.put(request, response, ignored_args_for_cache_key=['api_key'])
hit = cache.get(dict(request, api_key='k2'), ignored_args_for_cache_key=['api_key'])
assert hit is not None and hit.choices[0].message.content == 'hello', hit
assert hit.usage == {} and hit.cache_hit is True, (hit.usage, getattr(hit, 'cache_hit', None))
assert cache.get(dict(request, model='other')) is None
big_request = {'model': 'm', 'prompt': 'big'}
cache.put(big_request, {'text': 'x' * 200_000})
assert cache.get(big_request) == {'text': 'x' * 200_000}

# Another process (a second dspy program) sees both through a cache of its own.
child = subprocess.run(
    [sys.executable, '-c', (
        'import sys; from dspy.clients.cache import Cache\n'
        'c = Cache(enable_disk_cache=True, enable_memory_cache=False, disk_cache_dir=sys.argv[1])\n'
        'r = c.get(eval(sys.argv[2]), ignored_args_for_cache_key=["api_key"])\n'
        'print(r.choices[0].message.content, len(c.get({"model": "m", "prompt": "big"})["text"]))'),
     directory, repr(request)],
    capture_output=True, text=True, env=os.environ)
assert child.returncode == 0 and child.stdout.split() == ['hello', '200000'], (child.stdout, child.stderr)

# restrict_pickle: litellm types load; a class outside the allow-list makes the entry unreadable,
# dspy's Disk.fetch raises DeserializationError and dspy deletes the entry and reports a miss.
class Unlisted:
    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return isinstance(other, Unlisted) and other.n == self.n


cache.put({'q': 'unsafe'}, Unlisted(1))
cache.put({'q': 'unsafe-big'}, [Unlisted(2)] + ['y' * 100_000])
strict = disk_only(restrict_pickle=True)
assert strict.get(request, ignored_args_for_cache_key=['api_key']).choices[0].message.content == 'hello'
for q in ('unsafe', 'unsafe-big'):
    key = strict.cache_key({'q': q})
    assert key in strict.disk_cache
    assert strict.get({'q': q}) is None
    assert key not in strict.disk_cache, 'dspy deletes an entry it cannot deserialize'
allowed = disk_only(restrict_pickle=True, safe_types=[Unlisted])
allowed.put({'q': 'listed'}, Unlisted(3))
assert allowed.get({'q': 'listed'}) == Unlisted(3)

# request_cache, as dspy.LM uses it: one call per distinct request, across the memory layer.
dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=directory)
calls = []


@request_cache()
def complete(prompt, temperature=0.0):
    calls.append(prompt)
    return {'completion': prompt.upper(), 'temperature': temperature}


assert complete('abc') == {'completion': 'ABC', 'temperature': 0.0}
assert complete('abc') == {'completion': 'ABC', 'temperature': 0.0}
assert complete('abc', temperature=1.0)['temperature'] == 1.0
dspy.cache.reset_memory_cache()
assert complete('abc') == {'completion': 'ABC', 'temperature': 0.0}
assert calls == ['abc', 'abc'], calls

# The size limit dspy passes (disk_size_limit_bytes) bounds the cache.
small = Cache(enable_disk_cache=True, enable_memory_cache=False,
              disk_cache_dir=tempfile.mkdtemp(prefix='dspy-small-'), disk_size_limit_bytes=16 * 50_000)
for i in range(400):
    small.put({'i': i}, 'z' * 10_000)
assert small.disk_cache.volume() < 16 * 50_000 * 2, small.disk_cache.volume()
assert len(small.disk_cache) < 100, len(small.disk_cache)

print('dspy Cache on %s: put/get, another process, restrict_pickle, request_cache, size limit: ok' % module)
