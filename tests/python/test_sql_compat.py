"""The SQL that applications run on python-diskcache's private `_sql`/`_con` (dvc-data's
HashesCache: app-r1), carried out by diskcache_swift's compatibility layer. Each supported
statement is compared with python-diskcache 5.6.3 (the reference); anything else must fail
clearly and change nothing."""

import pickle
import shutil
import sqlite3
import tempfile
import time

import diskcache
import pytest

import diskcache_swift
from diskcache_swift import _sqlcompat

MODULES = [pytest.param(diskcache, id='ref'), pytest.param(diskcache_swift, id='ours')]

COLUMNS = 'key, raw, store_time, expire_time, access_time, tag, mode, filename, value'
UPSERT = (
    'INSERT INTO Cache(' + COLUMNS + ') VALUES (?, 1, 0, null, 0, null, 1, null, ?)'
    ' ON CONFLICT(key, raw) DO UPDATE SET value = excluded.value'
)
REPLACE = 'INSERT OR REPLACE INTO Cache(' + COLUMNS + ') VALUES (?, 1, 0, null, 0, null, 1, null, ?)'
PLAIN = 'INSERT INTO Cache(' + COLUMNS + ') VALUES (?, 1, 0, null, 0, null, 1, null, ?)'
EXISTS = 'SELECT EXISTS (SELECT 1 FROM Cache)'
VALUE = 'SELECT value FROM Cache WHERE key = ? and raw = 1'


def select_in(count):
    return 'SELECT key, value FROM Cache WHERE key IN (%s) and raw = 1' % ', '.join('?' * count)


@pytest.fixture
def directory():
    path = tempfile.mkdtemp(prefix='dcs-sql-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=MODULES)
def cache(request, directory):
    cache = request.param.Cache(directory)
    yield cache
    cache.close()


def is_empty(cache):
    ((exists,),) = cache._sql(EXISTS)
    return exists == 0


def test_exists_follows_the_items(cache):
    assert is_empty(cache)
    cache['k'] = 1
    assert not is_empty(cache)
    del cache['k']
    assert is_empty(cache)


@pytest.mark.parametrize('statement', [UPSERT, REPLACE, PLAIN])
def test_executemany_in_a_transaction_stores_raw_items(cache, statement):
    items = [('path/a', '{"md5": "x"}'), ('path/b', b'\x00bytes'), ('c', 7), ('d', 2.5), ('e', None)]
    with cache.transact():
        cache._con.executemany(statement, items)
    assert len(cache) == 5
    for key, value in items:
        assert cache.get(key, default='missing') == value
        assert cache._sql(VALUE, (key,)).fetchall() == [(value,)]
    assert list(cache) == [key for key, _ in items]


def test_select_value_of_a_missing_key(cache):
    assert cache._sql(VALUE, ('nope',)).fetchall() == []


@pytest.mark.parametrize(
    'value', ['text', b'blob', 12, -(2**63), 1.5, (1, 'tuple'), {'a': 1}, True, 2**70], ids=repr
)
def test_select_value_of_an_item_set_through_the_api(cache, value):
    cache.set('k', value)
    assert cache._sql(VALUE, ('k',)).fetchall() == [(ref_column(cache, value),)]


def ref_column(cache, value):
    """The value column python-diskcache writes for `value` (checked by the 'ref' run)."""
    if type(value) in (str, bytes, float) or (type(value) is int and -(2**63) <= value < 2**63):
        return value
    return pickle.dumps(value, protocol=cache.disk.pickle_protocol)


def test_select_in_returns_present_keys(cache):
    cache._con.executemany(UPSERT, [('a', '1'), ('b', '2'), ('c', '3')])
    cache.set(5, 'five')
    cache.set(('not', 'raw'), 'pickled key')
    keys = ['a', 'c', 'missing', 'a', 5]
    rows = cache._sql(select_in(len(keys)), keys).fetchall()
    assert sorted(rows, key=repr) == sorted([('a', '1'), ('c', '3'), (5, 'five')], key=repr)


def test_upsert_keeps_expire_time_and_tag(cache):
    cache.set('k', 'old', expire=100, tag='t')
    _, expire_time, _ = cache.get('k', expire_time=True, tag=True)
    cache._con.executemany(UPSERT, [('k', 'new')])
    value, new_expire_time, tag = cache.get('k', expire_time=True, tag=True)
    assert (value, tag) == ('new', 't')
    assert new_expire_time == pytest.approx(expire_time, abs=0.01)


def test_upsert_keeps_the_iteration_position_and_replace_moves_to_the_end(cache):
    cache._con.executemany(UPSERT, [('a', '1'), ('b', '2'), ('c', '3')])
    cache._con.executemany(UPSERT, [('a', 'A')])
    assert list(cache) == ['a', 'b', 'c']
    cache._con.executemany(REPLACE, [('a', 'AA')])
    assert list(cache) == ['b', 'c', 'a']
    assert cache['a'] == 'AA'


def test_replace_clears_expire_time_and_tag(cache):
    cache.set('k', 'old', expire=100, tag='t')
    cache._con.execute(REPLACE, ('k', 'new'))
    assert cache.get('k', expire_time=True, tag=True) == ('new', None, None)


def test_insert_with_expire_time_and_tag_parameters(cache):
    statement = 'INSERT INTO Cache(key, raw, mode, value, expire_time, tag) VALUES (?, 1, 1, ?, ?, ?)'
    expire_time = time.time() + 100
    cache._con.execute(statement, ('k', 'v', expire_time, 'tagged'))
    value, stored_expire_time, tag = cache.get('k', expire_time=True, tag=True)
    assert (value, tag) == ('v', 'tagged')
    assert stored_expire_time == pytest.approx(expire_time, abs=0.01)


def test_plain_insert_of_a_present_key_in_a_transaction_changes_nothing(cache):
    cache['b'] = 'kept'
    with pytest.raises(sqlite3.IntegrityError):
        with cache.transact():
            cache._con.executemany(PLAIN, [('a', '1'), ('b', '2')])
    assert 'a' not in cache and cache['b'] == 'kept' and len(cache) == 1


def test_bound_like_sqlite3(cache):
    cache._con.executemany(UPSERT, [(True, bytearray(b'ba')), ('m', memoryview(b'mv'))])
    assert cache.get(1) == b'ba' and cache.get('m') == b'mv'
    assert cache._sql(VALUE, (1.0,)).fetchall() == [(b'ba',)]


def test_unbindable_value_raises_programming_error(cache):
    with pytest.raises(sqlite3.ProgrammingError):
        with cache.transact():
            cache._con.executemany(UPSERT, [('a', '1'), ('b', {'not': 'bindable'})])
    assert 'a' not in cache and len(cache) == 0


def test_wrong_number_of_parameters(cache):
    with pytest.raises(sqlite3.ProgrammingError):
        cache._sql(VALUE, ('a', 'b'))
    with pytest.raises(sqlite3.ProgrammingError):
        cache._con.executemany(UPSERT, [('a',)])
    assert len(cache) == 0


def test_executemany_refuses_a_query(cache):
    with pytest.raises(sqlite3.ProgrammingError):
        cache._con.executemany(VALUE, [('a',)])


def test_sql_retry_runs_the_same_statements(cache):
    cache._sql_retry(UPSERT, ('a', '1'))
    assert cache._sql_retry(VALUE, ('a',)).fetchall() == [('1',)]


def test_cursor_reads_like_sqlite3(cache):
    cache._con.executemany(UPSERT, [('a', '1'), ('b', '2')])
    cursor = cache._sql(select_in(2), ['a', 'b'])
    first = cursor.fetchone()
    rest = cursor.fetchall()
    assert sorted([first] + rest) == [('a', '1'), ('b', '2')]
    assert cursor.fetchone() is None and cursor.fetchall() == []
    assert [row for row in cache._sql(VALUE, ('a',))] == [('1',)]


def test_subclass_reading_values_through_sql(directory):
    """dvc-data's pattern: a subclass whose get reads the value column."""

    class SQLReadingCache(diskcache_swift.Cache):
        def get(self, key, default=None, read=False, expire_time=False, tag=False, retry=False):
            rows = self._sql(VALUE, (key,)).fetchall()
            return rows[0][0] if rows else default

    cache = SQLReadingCache(directory)
    with cache.transact():
        cache._con.executemany(UPSERT, [('a', '{"md5": "x"}')])
    assert cache.get('a') == cache['a'] == '{"md5": "x"}'
    assert cache.get('b', 'default') == 'default'
    cache.close()


# -- our layer only: normalisation, all-or-nothing, clear errors -------------------------


@pytest.fixture
def ours(directory):
    cache = diskcache_swift.Cache(directory)
    yield cache
    cache.close()


def test_whitespace_case_and_semicolon_do_not_matter(ours):
    ours._con.execute('insert   into cache (KEY,RAW,MODE,VALUE)\n values(?,1,1,?);', ('a', 'v'))
    assert ours._sql('select exists(select 1 from CACHE);').fetchall() == [(1,)]
    assert ours._sql('SELECT value\tFROM Cache WHERE key=? AND raw=1', ('a',)).fetchall() == [('v',)]


def test_executemany_outside_a_transaction_stores_none_of_a_failing_batch(ours):
    # SQLite in autocommit mode would keep 'a'; the layer checks every row first.
    with pytest.raises(sqlite3.ProgrammingError):
        ours._con.executemany(UPSERT, [('a', '1'), ('b', object())])
    with pytest.raises(sqlite3.IntegrityError):
        ours._con.executemany(PLAIN, [('c', '1'), ('c', '2')])
    assert len(ours) == 0


@pytest.mark.parametrize(
    'statement',
    [
        'DELETE FROM Cache',
        'SELECT * FROM Cache',
        'SELECT key, value FROM Cache WHERE key IN () and raw = 1',
        'SELECT value FROM Cache WHERE key = ?',
        'UPDATE Cache SET value = ? WHERE key = ?',
        'INSERT INTO Cache(key, raw, mode, value) VALUES (?, 0, 4, ?)',
        'INSERT INTO Cache(key, raw, mode, filename, value) VALUES (?, 1, 1, ?, ?)',
        'INSERT INTO Cache(key, raw, mode, value, bogus) VALUES (?, 1, 1, ?, 1)',
        'INSERT INTO Cache(key, raw, mode, value) VALUES (?, 1, 1, ?) ON CONFLICT DO NOTHING',
        'INSERT INTO Settings(key, value) VALUES (?, ?)',
        'PRAGMA page_count',
        "SELECT value FROM Settings WHERE key = 'count'",
    ],
)
def test_unsupported_statement_is_named_and_changes_nothing(ours, statement):
    ours['kept'] = 1
    parameters = ('a',) * statement.count('?')
    with pytest.raises(sqlite3.OperationalError, match='not supported') as raised:
        ours._sql(statement, parameters)
    assert isinstance(raised.value, _sqlcompat.UnsupportedStatement)
    assert repr(statement) in str(raised.value)
    assert list(ours) == ['kept'] and ours['kept'] == 1


def test_statement_must_be_a_string(ours):
    with pytest.raises(TypeError, match='str'):
        ours._sql(b'SELECT EXISTS (SELECT 1 FROM Cache)')
