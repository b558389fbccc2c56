"""The package is typed: its .pyi stubs and py.typed ship, `mypy --strict` and `pyright`
(strict) accept tests/typing/sample.py (which uses every class), they reject a wrong program,
and the stubs match the running package (mypy.stubtest)."""

import os
import subprocess
import sys
import tempfile

import pytest

import diskcache_swift

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, 'python')
TYPING_DIR = os.path.join(ROOT, 'tests', 'typing')
SAMPLE = os.path.join(TYPING_DIR, 'sample.py')
PACKAGE_DIR = os.path.join(PYTHON_DIR, 'diskcache_swift')
STUBS = sorted(os.path.join(PACKAGE_DIR, name) for name in os.listdir(PACKAGE_DIR) if name.endswith('.pyi'))

# The stubs type the whole API of issue 11, some of which other branches add (batches,
# listing, read-only open, asyncio, Deque/Index close). The checks that need the running
# package to have it wait until those branches are merged.
CONTRACT_NAMES = ('get_many', 'set_many', 'iterinfo', 'keys', 'aget', 'aset_many')
MERGED = all(hasattr(diskcache_swift.Cache, name) for name in CONTRACT_NAMES) and all(
    hasattr(diskcache_swift, name) for name in ('ItemInfo', 'ReadOnlyError')
)
needs_merge = pytest.mark.skipif(
    not MERGED, reason='runs once the batches and rdonly-async branches are merged (names of contract-s4.md)'
)


# The running package from where this test process has it (CI installs it; a build in place
# puts it in python/); the stubs are always the repository's.
RUNTIME_DIR = os.path.dirname(os.path.dirname(diskcache_swift.__file__))


def run(*command, env=None):
    environment = dict(os.environ, MYPYPATH=PYTHON_DIR, PYTHONPATH=RUNTIME_DIR, **(env or {}))
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)


def mypy(*paths):
    return run(sys.executable, '-m', 'mypy', '--strict', '--no-incremental', '--cache-dir', os.devnull, *paths)


def test_every_module_has_a_stub_and_the_marker_ships():
    modules = {name[:-3] for name in os.listdir(PACKAGE_DIR) if name.endswith('.py')}
    stubbed = {os.path.basename(path)[:-4] for path in STUBS}
    assert modules - stubbed <= {'_sqlcompat', '_asyncio', '_pickling'}  # private; typed through Cache's stubs
    with tempfile.TemporaryDirectory() as build:
        result = run(sys.executable, 'setup.py', '-q', 'build_py', '--build-lib', build)
        assert result.returncode == 0, result.stderr
        shipped = set(os.listdir(os.path.join(build, 'diskcache_swift')))
    assert 'py.typed' in shipped
    assert {os.path.basename(path) for path in STUBS} <= shipped


def test_mypy_strict_accepts_the_sample_and_the_stubs():
    result = mypy(SAMPLE, *STUBS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_strict_accepts_the_sample_and_the_stubs():
    result = run(sys.executable, '-m', 'pyright', '-p', TYPING_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '0 errors' in result.stdout


def test_checkers_reject_misuse():
    wrong = (
        'from diskcache_swift import Cache, FanoutCache, FastCache\n'
        "count: str = Cache().incr('n')\n"
        "FastCache(max_size='many')\n"
        "Cache().set('k', 1, expire='soon')\n"
        "hits: int = FanoutCache().incr('n')\n"
    )
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'wrong.py')
        with open(path, 'w') as file:
            file.write(wrong)
        result = mypy(path)
        assert result.returncode == 1
        for line in (2, 3, 4, 5):
            assert 'wrong.py:%d: error' % line in result.stdout, result.stdout
        with open(os.path.join(directory, 'pyrightconfig.json'), 'w') as file:
            file.write('{"extraPaths": ["%s"]}' % PYTHON_DIR)
        result = run(sys.executable, '-m', 'pyright', '-p', directory)
        assert result.returncode == 1 and '4 errors' in result.stdout, result.stdout


@needs_merge
def test_stubs_match_the_running_package():
    allowlist = os.path.join(TYPING_DIR, 'stubtest-allowlist.txt')
    result = run(
        sys.executable, '-m', 'mypy.stubtest', 'diskcache_swift', '--ignore-missing-stub', '--allowlist', allowlist
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_merge
def test_sample_runs():
    result = run(sys.executable, SAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'sample: ok' in result.stdout
