"""Build a held-out suite of `gt eval`: five one-line bugs inside the classes of a real library.

    python bench/cachetools_bugs.py DIR [--sdist cachetools-8.0.2.tar.gz]

cachetools 8.0.2 (MIT) from its PyPI source distribution, its own unittest suite and five
bugs put in at once, four of them inside methods of its cache classes. Where the toolz
suites are top-level functions and pytest functions, this is the other shape of a real
library: a ``src/`` layout, one 900-line module of classes with name-mangled attributes,
and tests written once in a mixin (``tests/__init__.py``) that each cache's ``TestCase``
inherits. Each bead is the bug report a user would write; the library's own tests judge
it, and the untouched library is every bead's solution. Like the toolz suites, it is built
outside the repository: work gastown was not tuned on.

    gt eval --suite DIR --check
    gt eval --suite DIR --models qwen2.5-coder-1.5b --role polecat --timeout 300 --keep -v --json
"""

from __future__ import annotations

import sys

from toolz_bugs import arguments, bug_suite, pytest_rig

VERSION = "8.0.2"
SDIST = f"cachetools-{VERSION}.tar.gz"
PACKAGING = ("PKG-INFO", "setup.cfg", "*.egg-info")  # packaging output, at any depth
MODULE = "src/cachetools/__init__.py"

# (file, the original text, the text with the bug): each original occurs exactly once.
BUGS = {
    "cache-pop": (
        MODULE,
        "            value = self[key]\n            del self[key]\n",
        "            value = self[key]\n",
    ),
    "lru-touch": (
        MODULE,
        "            self.__order.move_to_end(key)\n        except KeyError:  # __missing__",
        "            self.__order.move_to_end(key, last=False)\n        except KeyError:  # __missing__",
    ),
    "ttl-expire": (
        MODULE,
        "        while curr is not root and not (time < curr.expires):\n",
        "        while curr is not root and time < curr.expires:\n",
    ),
    "typedkey": (
        "src/cachetools/keys.py",
        "        key = args\n    return key + tuple(map(type, args))\n\n\ndef typedmethodkey",
        "        key = args\n    return key\n\n\ndef typedmethodkey",
    ),
    "lfu-touch": (
        MODULE,
        "            if len(link.keys) == 1:\n                link.count += 1\n                return\n",
        "            if len(link.keys) == 1:\n                return\n",
    ),
}

# key: (title, report, acceptance tests)
BEADS = {
    "cache-pop": (
        "Cache.pop returns the value but leaves the key in the cache",
        """`cachetools.Cache.pop(key)` returns the key's value but does not remove it:
after `c = Cache(maxsize=2); c[1] = 1; c.pop(1)`, `1 in c` is still `True` and `len(c)` is 1;
it should be `False` and 0. The class is in src/cachetools/__init__.py; its test is
`test_pop`, run as `CacheTest.test_pop` in tests/test_cache.py.""",
        ["tests/test_cache.py::CacheTest::test_pop"],
    ),
    "lru-touch": (
        "LRUCache evicts the item that was just read",
        """`cachetools.LRUCache` should evict the least recently used item, and reading an item
counts as using it. After `c = LRUCache(maxsize=2); c[1] = 1; c[2] = 2; c[1]; c[3] = 3`,
`1 in c` is `False` and `2 in c` is `True`, but it should be the other way round: reading
`c[1]` should make key 2 the least recently used. LRUCache is in src/cachetools/__init__.py;
its test is `test_lru` in tests/test_lru.py.""",
        ["tests/test_lru.py::LRUCacheTest::test_lru"],
    ),
    "ttl-expire": (
        "TTLCache.expire() never removes expired items",
        """`cachetools.TTLCache.expire()` should remove the items whose time-to-live has passed
and return them as `(key, value)` pairs, but it removes nothing and returns `[]`:
with a timer at 0, `c = TTLCache(maxsize=2, ttl=1, timer=lambda: now); c[1] = 1`, then
with the timer at 2, `c.expire()` gives `[]` where it should give `[(1, 1)]`. TTLCache is in
src/cachetools/__init__.py; its test is `test_ttl_expire` in tests/test_ttl.py.""",
        ["tests/test_ttl.py::TTLCacheTest::test_ttl_expire"],
    ),
    "typedkey": (
        "typedkey ignores the types of positional arguments",
        """`cachetools.keys.typedkey(3)` and `typedkey(3.0)` give equal keys, so a cache keyed
with typedkey mixes up `3` and `3.0`; the key should also hold the type of each positional
argument, as it does for keyword arguments. The function is in src/cachetools/keys.py;
its test is `test_typedkey` in tests/test_keys.py.""",
        ["tests/test_keys.py::CacheKeysTest::test_typedkey"],
    ),
    "lfu-touch": (
        "LFUCache evicts an item that was used more often than the one it keeps",
        """`cachetools.LFUCache` should evict the least frequently used item, and reading an
item counts as a use. After `c = LFUCache(maxsize=2); c[1] = 1; c[1]; c[2] = 2; c[3] = 3`,
key 1 is gone and key 2 is kept, but key 1 was used twice and key 2 once, so key 2 should
go. LFUCache is in src/cachetools/__init__.py; its test is `test_lfu` in tests/test_lfu.py.""",
        ["tests/test_lfu.py::LFUCacheTest::test_lfu"],
    ),
}

HEADER = f"""\
# Held-out bug fixes in the classes of a real library: cachetools {VERSION} (MIT), built by
# bench/cachetools_bugs.py. Five one-line bugs, all in at once; each bead is a user's bug
# report, judged by the library's own tests. overlays/solution is the untouched library.

[suite]
name = "cachetools-bugs"
description = "cachetools, a real library of cache classes, with five one-line bugs: each bead fixes one, judged by the library's own tests"
bead_timeout = 600
"""


def main() -> int:
    args = arguments(__doc__, SDIST)
    if args is None:
        return 2
    head = HEADER + pytest_rig(
        "cachetools", "cachetools: extensible memoizing collections and decorators", "README.rst"
    )
    return bug_suite(args, "cachetools", VERSION, "src", BUGS, BEADS, head, PACKAGING)


if __name__ == "__main__":
    sys.exit(main())
