"""Deque, Index and FanoutCache against python-diskcache 5.6.3, operation by operation."""

import shutil
import tempfile

import diskcache
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import diskcache_swift

from test_differential import outcome

values = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none(), st.tuples(st.integers(0, 3)))
keys = st.one_of(st.integers(0, 6), st.sampled_from(['a', 'b', b'c', 1.5, (1, 2)]))


class Twin(RuleBasedStateMachine):
    """Runs each rule on the reference and on ours; results must match."""

    def make(self, module, directory):
        raise NotImplementedError

    @initialize()
    def open_both(self):
        self.dirs = [tempfile.mkdtemp(), tempfile.mkdtemp()]
        self.ref = self.make(diskcache, self.dirs[0])
        self.ours = self.make(diskcache_swift, self.dirs[1])

    def teardown(self):
        for d in getattr(self, 'dirs', []):
            shutil.rmtree(d, ignore_errors=True)

    def same(self, fn):
        assert outcome(lambda: fn(self.ours)) == outcome(lambda: fn(self.ref))


class DequeTwin(Twin):
    def make(self, module, directory):
        return module.Deque(directory=directory, maxlen=None)

    @rule(v=values)
    def append(self, v):
        self.same(lambda d: d.append(v))

    @rule(v=values)
    def appendleft(self, v):
        self.same(lambda d: d.appendleft(v))

    @rule()
    def pop(self):
        self.same(lambda d: d.pop())

    @rule()
    def popleft(self):
        self.same(lambda d: d.popleft())

    @rule()
    def peek(self):
        self.same(lambda d: (d.peek(), d.peekleft()))

    @rule(i=st.integers(-4, 4))
    def index(self, i):
        self.same(lambda d: d[i])

    @rule(i=st.integers(-4, 4), v=values)
    def setindex(self, i, v):
        def op(d):
            d[i] = v

        self.same(op)

    @rule(i=st.integers(-4, 4))
    def delindex(self, i):
        def op(d):
            del d[i]

        self.same(op)

    @rule(v=values)
    def remove(self, v):
        self.same(lambda d: d.remove(v))

    @rule(steps=st.integers(-3, 3))
    def rotate(self, steps):
        self.same(lambda d: d.rotate(steps))

    @rule(v=values)
    def count(self, v):
        self.same(lambda d: d.count(v))

    @invariant()
    def same_items(self):
        if hasattr(self, 'ref'):
            assert list(self.ours) == list(self.ref)
            assert list(reversed(self.ours)) == list(reversed(self.ref))
            assert (self.ours == list(self.ref)) and not (self.ours < list(self.ref))


class IndexTwin(Twin):
    def make(self, module, directory):
        return module.Index(directory)

    @rule(k=keys, v=values)
    def setitem(self, k, v):
        def op(i):
            i[k] = v

        self.same(op)

    @rule(k=keys)
    def getitem(self, k):
        self.same(lambda i: i[k])

    @rule(k=keys)
    def delitem(self, k):
        def op(i):
            del i[k]

        self.same(op)

    @rule(k=keys, v=values)
    def setdefault(self, k, v):
        self.same(lambda i: i.setdefault(k, v))

    @rule(k=keys)
    def pop(self, k):
        self.same(lambda i: i.pop(k, 'default'))

    @rule(last=st.booleans())
    def popitem(self, last):
        self.same(lambda i: i.popitem(last=last))

    @rule(last=st.booleans())
    def peekitem(self, last):
        self.same(lambda i: i.peekitem(last=last))

    @rule(v=values, side=st.sampled_from(['back', 'front']), prefix=st.sampled_from([None, 'q']))
    def push(self, v, side, prefix):
        self.same(lambda i: i.push(v, prefix=prefix, side=side))

    @rule(side=st.sampled_from(['back', 'front']), prefix=st.sampled_from([None, 'q']))
    def pull(self, side, prefix):
        self.same(lambda i: i.pull(prefix=prefix, side=side))

    @invariant()
    def same_items(self):
        if hasattr(self, 'ref'):
            assert list(self.ours.items()) == list(self.ref.items())
            assert list(reversed(self.ours)) == list(reversed(self.ref))


class FanoutTwin(Twin):
    def make(self, module, directory):
        return module.FanoutCache(directory, shards=3)

    @rule(k=keys, v=values, expire=st.sampled_from([None, -1, 100]), tag=st.sampled_from([None, 'x']))
    def set(self, k, v, expire, tag):
        self.same(lambda f: f.set(k, v, expire=expire, tag=tag))

    @rule(k=keys)
    def get(self, k):
        self.same(lambda f: f.get(k, 'missing', tag=True))

    @rule(k=keys)
    def incr(self, k):
        self.same(lambda f: f.incr(k))

    @rule(k=keys, v=values)
    def add(self, k, v):
        self.same(lambda f: f.add(k, v))

    @rule(k=keys)
    def pop(self, k):
        self.same(lambda f: f.pop(k))

    @rule(k=keys)
    def delete(self, k):
        self.same(lambda f: f.delete(k))

    @rule()
    def evict(self):
        self.same(lambda f: f.evict('x'))

    @rule()
    def expire(self):
        self.same(lambda f: f.expire())

    @invariant()
    def same_items(self):
        if hasattr(self, 'ref'):
            assert len(self.ours) == len(self.ref)
            assert list(self.ours) == list(self.ref)
            assert list(reversed(self.ours)) == list(reversed(self.ref))


TestDeque = DequeTwin.TestCase
TestIndex = IndexTwin.TestCase
TestFanout = FanoutTwin.TestCase
