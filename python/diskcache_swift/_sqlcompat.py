"""python-diskcache's private SQL surface, narrowed to what applications really run.

python-diskcache keeps its items in an SQLite table ``Cache`` and exposes the connection as
the private ``Cache._con`` (and ``Cache._sql = _con.execute``). Some applications run SQL on
it: dvc-data's ``HashesCache`` (``dvc add``, ``dvc status``) checks emptiness, reads values by
key and bulk-inserts rows. diskcache_swift has no SQLite, so this module recognises those
statements and carries them out on the engine. These statements, compared token by token
(case, whitespace and a trailing ``;`` do not matter), are all it accepts:

- ``SELECT EXISTS (SELECT 1 FROM Cache)``  -> ``[(0,)]`` or ``[(1,)]``
- ``SELECT value FROM Cache WHERE key = ? AND raw = 1``  -> ``[(value,)]`` or ``[]``
- ``SELECT key, value FROM Cache WHERE key IN (?, ?, ...) AND raw = 1``
  -> ``[(key, value), ...]``, one row per distinct present key, in parameter order
- ``INSERT [OR REPLACE] INTO Cache(<columns>) VALUES (<? or literal>, ...)
  [ON CONFLICT(key, raw) DO UPDATE SET value = excluded.value]``  (``execute`` or
  ``executemany``). The columns are python-diskcache's: ``key``, ``raw`` (must be the
  literal 1), ``mode`` (must be the literal 1, MODE_RAW), ``value``, and optionally
  ``expire_time`` (absolute, as python-diskcache stores it), ``tag``, ``filename`` (literal
  NULL), ``size`` (literal 0), ``store_time``, ``access_time``, ``access_count``.

Anything else raises :class:`UnsupportedStatement` (an ``sqlite3.OperationalError``) naming
the statement. Keys and values are bound as the ``sqlite3`` module binds them (bool -> int,
bytearray/memoryview -> bytes; other types raise ``sqlite3.ProgrammingError``), and an
inserted row becomes an item that ``cache.get(key)`` returns exactly as python-diskcache's
does for a raw row (the str, bytes, int or float itself; ``None`` for NULL).

Where the emulation differs from SQLite, knowingly:

- Rows are items: a ``value`` column reads as the value python-diskcache would have stored in
  it (str, bytes, int and float themselves, other values pickled with the cache's protocol,
  or NULL when that pickle would be a file of its own), except that a str or bytes value read
  as itself even where python-diskcache keeps it in a file (NULL), and ``None`` reads as NULL.
- Expired items are absent (SQLite still has their rows until they are culled).
- ``store_time``, ``access_time`` and ``access_count`` are ignored (the engine records its
  own), and an insert goes through the engine's ``set``, so it culls as ``set`` does
  (python-diskcache's SQL insert never culls; dvc-data sets ``cull_limit=0``).
- A statement runs all-or-nothing: ``executemany`` checks every row before storing any and
  stores them in one transaction (SQLite in autocommit mode keeps the rows before a failing
  one).
- The key column is the key as bound (a row stored under ``1`` found by ``1.0`` reads back
  as ``1.0``); keys and values go through the cache's Disk as ``set`` does, which equals
  python-diskcache's raw rows for the default Disk and subclasses that keep its put/store.
"""

import functools
import pickle
import re
import sqlite3
import time

from . import _engine

_INT64 = (-(2**63), 2**63)


class UnsupportedStatement(sqlite3.OperationalError):
    """A statement the SQL compatibility layer does not recognise (see its module doc)."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<param>\?)
      | (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z_0-9]*)
      | (?P<string>'(?:[^']|'')*')
      | (?P<punct>[(),=.*])
    )""",
    re.VERBOSE,
)

_NULL = object()
_PARAM = object()

_COLUMNS = frozenset(
    ('key', 'raw', 'store_time', 'expire_time', 'access_time', 'access_count', 'tag', 'size', 'mode', 'filename', 'value')
)
_EXISTS = ('select', 'exists', '(', 'select', '1', 'from', 'cache', ')')
_VALUE_BY_KEY = ('select', 'value', 'from', 'cache', 'where', 'key', '=', _PARAM, 'and', 'raw', '=', '1')
_IN_HEAD = ('select', 'key', ',', 'value', 'from', 'cache', 'where', 'key', 'in', '(')
_IN_TAIL = (')', 'and', 'raw', '=', '1')
_UPSERT_VALUE = ('on', 'conflict', '(', 'key', ',', 'raw', ')', 'do', 'update', 'set', 'value', '=', 'excluded', '.', 'value')


def _unsupported(sql, why=None):
    message = 'diskcache_swift has no SQLite; statement not supported by its compatibility layer: %r' % (sql,)
    if why:
        message += ' (%s)' % why
    return UnsupportedStatement(message + '. Supported: see diskcache_swift._sqlcompat.')


def _tokens(sql):
    text = sql.strip()
    if text.endswith(';'):
        text = text[:-1]
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == '':
                break
            raise _unsupported(sql, 'unexpected text at %r' % text[position : position + 20])
        position = match.end()
        kind = match.lastgroup
        token = match.group(kind)
        if kind == 'param':
            tokens.append(_PARAM)
        elif kind == 'word':
            tokens.append(token.lower())
        else:
            tokens.append(token)
    return tuple(tokens)


def _literal(token, sql):
    """The value of a literal token of a VALUES list."""
    if token is _PARAM:
        return _PARAM
    if token == 'null':
        return None
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            raise _unsupported(sql, 'unexpected %r in VALUES' % token) from None


class _Statement:
    """A parsed statement: `kind` says what it does, `params` how many `?` it binds."""

    def __init__(self, kind, params, columns=None, conflict=None):
        self.kind = kind
        self.params = params
        self.columns = columns
        self.conflict = conflict


@functools.lru_cache(maxsize=128)
def _parse(sql):
    if not isinstance(sql, str):
        raise TypeError('SQL statement must be a str, not %s' % type(sql).__name__)
    tokens = _tokens(sql)
    if tokens == _EXISTS:
        return _Statement('exists', 0)
    if tokens == _VALUE_BY_KEY:
        return _Statement('value', 1)
    head, tail = len(_IN_HEAD), len(_IN_TAIL)
    if tokens[:head] == _IN_HEAD and tokens[-tail:] == _IN_TAIL and len(tokens) > head + tail:
        inner = tokens[head:-tail]
        if all(token is (_PARAM if index % 2 == 0 else ',') for index, token in enumerate(inner)) and len(inner) % 2:
            return _Statement('key_value_in', (len(inner) + 1) // 2)
    if tokens[:1] == ('insert',):
        return _parse_insert(sql, tokens)
    raise _unsupported(sql)


def _parse_insert(sql, tokens):
    rest = list(tokens[1:])
    conflict = 'error'
    if rest[:2] == ['or', 'replace']:
        conflict, rest = 'replace', rest[2:]
    if rest[:3] != ['into', 'cache', '(']:
        raise _unsupported(sql)
    rest = rest[3:]
    columns = []
    while True:
        if len(rest) < 2 or rest[0] not in _COLUMNS or rest[1] not in (',', ')'):
            raise _unsupported(sql, 'expected a column of Cache')
        columns.append(rest[0])
        done = rest[1] == ')'
        rest = rest[2:]
        if done:
            break
    if len(set(columns)) != len(columns):
        raise _unsupported(sql, 'a column is named twice')
    if rest[:2] != ['values', '(']:
        raise _unsupported(sql)
    rest = rest[2:]
    values = []
    while True:
        if len(rest) < 2 or rest[1] not in (',', ')'):
            raise _unsupported(sql, 'expected one value per column')
        values.append(_literal(rest[0], sql))
        done = rest[1] == ')'
        rest = rest[2:]
        if done:
            break
    if len(values) != len(columns):
        raise _unsupported(sql, '%d columns, %d values' % (len(columns), len(values)))
    if tuple(rest) == _UPSERT_VALUE and conflict == 'error':
        conflict = 'update_value'
    elif rest:
        raise _unsupported(sql, 'unexpected %r' % ' '.join(str(token) for token in rest))
    row = dict(zip(columns, values))
    for column in ('key', 'value', 'raw', 'mode'):
        if column not in row:
            raise _unsupported(sql, 'column %s is required' % column)
    if row['raw'] != 1 or row['mode'] != 1 or type(row['raw']) is not int or type(row['mode']) is not int:
        raise _unsupported(sql, 'only raw = 1 and mode = 1 (MODE_RAW) rows are supported, as literals')
    if row.get('filename') is not None:
        raise _unsupported(sql, 'filename must be NULL')
    if row.get('size', 0) != 0:
        raise _unsupported(sql, 'size must be 0')
    positions = {}
    index = 0
    for column, value in row.items():
        if value is _PARAM:
            positions[column] = index
            index += 1
    literals = {column: value for column, value in row.items() if value is not _PARAM}
    return _Statement('insert', index, columns=(positions, literals), conflict=conflict)


def _bind(value, number):
    """`value` as the sqlite3 module binds it (parameter `number`, 1-based)."""
    kind = type(value)
    if value is None or kind is str or kind is float or kind is bytes:
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value < _INT64[1]:
            raise OverflowError('Python int too large to convert to SQLite INTEGER (parameter %d)' % number)
        return int(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    raise sqlite3.ProgrammingError(
        'Error binding parameter %d: type %r is not supported' % (number, kind.__name__)
    )


def _bind_all(statement, sql, parameters):
    if isinstance(parameters, (str, bytes)) or not hasattr(parameters, '__len__') or isinstance(parameters, dict):
        raise sqlite3.ProgrammingError('parameters of %r must be a sequence (tuple or list)' % (sql,))
    if len(parameters) != statement.params:
        raise sqlite3.ProgrammingError(
            'Incorrect number of bindings supplied. The current statement uses %d, and there are %d supplied.'
            % (statement.params, len(parameters))
        )
    return [_bind(value, number) for number, value in enumerate(parameters, 1)]


def _column_value(cache, value):
    """What python-diskcache's ``value`` column would hold for an item whose value is `value`."""
    kind = type(value)
    if value is None or kind is str or kind is bytes or kind is float:
        return value
    if kind is int and _INT64[0] <= value < _INT64[1]:
        return value
    disk = cache.disk
    data = pickle.dumps(value, protocol=disk.pickle_protocol)
    return data if len(data) < disk.min_file_size else None


_MISSING = object()


def _lookup(cache, key):
    return _engine.CacheCore.get(cache, key, _MISSING)


class Cursor:
    """The rows of a statement, with the parts of ``sqlite3.Cursor`` that callers use."""

    arraysize = 1
    lastrowid = None

    def __init__(self, rows=(), description=None, rowcount=-1):
        self._rows = iter(list(rows))
        self.description = description
        self.rowcount = rowcount

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._rows)

    def fetchone(self):
        return next(self._rows, None)

    def fetchmany(self, size=None):
        count = self.arraysize if size is None else size
        return [row for _, row in zip(range(count), self._rows)]

    def fetchall(self):
        return list(self._rows)

    def close(self):
        self._rows = iter(())


def _description(*names):
    return tuple((name, None, None, None, None, None, None) for name in names)


class Connection:
    """Stands in for python-diskcache's ``Cache._con`` (an ``sqlite3.Connection``).

    `retry` is what python-diskcache's ``_sql_retry`` adds: writes wait out other
    processes' locks instead of raising Timeout.
    """

    def __init__(self, cache, retry=False):
        self._cache = cache
        self._retry = retry

    def execute(self, sql, parameters=()):
        """Run one supported statement (see the module doc); returns a :class:`Cursor`."""
        statement = _parse(sql)
        bound = _bind_all(statement, sql, parameters)
        if statement.kind == 'insert':
            return self._insert(statement, sql, [bound])
        return self._select(statement, bound)

    def executemany(self, sql, seq_of_parameters):
        """Run a supported INSERT once per parameter sequence, all in one transaction."""
        statement = _parse(sql)
        if statement.kind != 'insert':
            raise sqlite3.ProgrammingError('executemany() can only execute DML statements.')
        rows = [_bind_all(statement, sql, parameters) for parameters in seq_of_parameters]
        return self._insert(statement, sql, rows)

    def _select(self, statement, bound):
        cache = self._cache
        if statement.kind == 'exists':
            return Cursor([(1 if _engine.CacheCore.__len__(cache) else 0,)], _description('EXISTS (SELECT 1 FROM Cache)'))
        if statement.kind == 'value':
            value = _lookup(cache, bound[0]) if bound[0] is not None else _MISSING
            rows = [] if value is _MISSING else [(_column_value(cache, value),)]
            return Cursor(rows, _description('value'))
        rows, seen = [], set()
        for key in bound:
            if key is None or _identity(key) in seen:
                continue
            seen.add(_identity(key))
            value = _lookup(cache, key)
            if value is not _MISSING:
                rows.append((key, _column_value(cache, value)))
        return Cursor(rows, _description('key', 'value'))

    def _insert(self, statement, sql, rows):
        positions, literals = statement.columns
        items = []
        for bound in rows:
            row = dict(literals)
            for column, index in positions.items():
                row[column] = bound[index]
            if row['key'] is None:
                raise sqlite3.IntegrityError('NOT NULL constraint failed: Cache.key')
            expire_time = row.get('expire_time')
            if expire_time is not None and type(expire_time) not in (int, float):
                raise sqlite3.ProgrammingError('expire_time must be a number or NULL in %r' % (sql,))
            items.append((row['key'], row['value'], expire_time, row.get('tag')))
        cache, retry = self._cache, self._retry
        core = _engine.CacheCore
        with cache.transact(retry):
            for key, value, expire_time, tag in items:
                if statement.conflict == 'update_value':
                    old = core.get(cache, key, _MISSING, False, True, True, retry)
                    if old is not _MISSING:
                        _, expire_time, tag = old
                elif statement.conflict == 'replace':
                    core.delete(cache, key, retry)
                expire = None if expire_time is None else expire_time - time.time()
                if statement.conflict == 'error':
                    if not core.add(cache, key, value, expire, False, tag, retry):
                        raise sqlite3.IntegrityError('UNIQUE constraint failed: Cache.key, Cache.raw')
                else:
                    core.set(cache, key, value, expire, False, tag, retry)
        return Cursor(rowcount=len(items))


def _identity(key):
    """Keys SQLite's equality treats as one (1 == 1.0; 'a' != b'a')."""
    return (type(key) is bytes, type(key) is str, key)
