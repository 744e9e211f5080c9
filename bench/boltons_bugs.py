"""Build a held-out suite of `gt eval`: six one-line bugs across the modules of a real library.

    python bench/boltons_bugs.py DIR [--sdist boltons-26.2.0.tar.gz]

boltons 26.2.0 (BSD) from its PyPI source distribution, its own pytest suite and six bugs
put in at once, in five of its modules: three in top-level functions (`ceil` in
mathutils.py, `bytes2human` in the 1,390-line strutils.py, `chunk_ranges` in the 1,659-line
iterutils.py) and three in methods (`Bits.__getitem__`, `SortedPriorityQueue`'s static
`_pop_entry`, which overrides its base class's, and `OrderedMultiDict.poplast` over a
linked list kept beside a dict). Where the toolz suites are one library's functions and
cachetools one module of classes, this is a grab-bag of modules, the shape of most utility
libraries. Each bead is the bug report a user would write; the library's own tests judge
it, and the untouched library is every bead's solution. Like the other held-out suites, it
is built outside the repository: work gastown was not tuned on.

    gt eval --suite DIR --check
    gt eval --suite DIR --models qwen2.5-coder-1.5b --role polecat --timeout 300 --keep -v --json
"""

from __future__ import annotations

import sys

from toolz_bugs import arguments, bug_suite, pytest_rig

VERSION = "26.2.0"
SDIST = f"boltons-{VERSION}.tar.gz"
PACKAGING = ("PKG-INFO", "*.egg-info")  # packaging output, at any depth

# (file, the original text, the text with the bug): each original occurs exactly once.
BUGS = {
    "ceil": (
        "boltons/mathutils.py",
        "    i = bisect.bisect_left(options, x)\n",
        "    i = bisect.bisect_right(options, x)\n",
    ),
    "bits-index": (
        "boltons/mathutils.py",
        "            if k < 0:\n                k += self.len\n",
        "            if k < 0:\n                k += self.len - 1\n",
    ),
    "bytes2human": (
        "boltons/strutils.py",
        "        if abs_bytes < next_size:\n",
        "        if abs_bytes <= next_size:\n",
    ),
    "chunk-ranges": (
        "boltons/iterutils.py",
        "    for i in range(input_offset, input_stop, chunk_size - overlap_size):\n",
        "    for i in range(input_offset, input_stop, chunk_size):\n",
    ),
    "sorted-queue": (
        "boltons/queueutils.py",
        "    def _pop_entry(backend):\n        return backend.pop(0)\n",
        "    def _pop_entry(backend):\n        return backend.pop()\n",
    ),
    "omd-poplast": (
        "boltons/dictutils.py",
        "                k = self.root[PREV][KEY]\n",
        "                k = self.root[NEXT][KEY]\n",
    ),
}

# key: (title, report, acceptance tests)
BEADS = {
    "ceil": (
        "mathutils.ceil skips an option equal to x",
        """`boltons.mathutils.ceil(x, options)` should return the smallest option greater than or
equal to `x`, but when `x` is itself one of the options it returns the next one up:
`ceil(4, options=[1.5, 2.5, 4, 6, 10])` gives `6` where it should give `4`. The function is
in boltons/mathutils.py; its test is `test_ceil_basic` in tests/test_mathutils.py.""",
        ["tests/test_mathutils.py::test_ceil_basic"],
    ),
    "bits-index": (
        "Bits gives the wrong bit for a negative index",
        """`boltons.mathutils.Bits` should index like a list, a negative index counting from the
end, but `Bits('10')[-1]` gives `True` (the first bit) where it should give `False` (the last),
and `Bits('0000100')[-3]` gives `False` where it should give `True`. Bits is in
boltons/mathutils.py; its test is `test_bits` in tests/test_mathutils.py.""",
        ["tests/test_mathutils.py::test_bits"],
    ),
    "bytes2human": (
        "bytes2human shows an exact power of 1024 in the smaller unit",
        """`boltons.strutils.bytes2human(1024)` gives `'1024B'` where it should give `'1K'`, and
`bytes2human(1024 ** 2)` gives `'1024K'` where it should give `'1M'`: an exact power of 1024
should roll over to the next unit. The function is in boltons/strutils.py; its test is
`test_bytes2human` in tests/test_strutils.py.""",
        ["tests/test_strutils.py::test_bytes2human"],
    ),
    "chunk-ranges": (
        "iterutils.chunk_ranges ignores overlap_size",
        """`boltons.iterutils.chunk_ranges(input_offset=10, input_size=10, chunk_size=5,
overlap_size=1)` gives `[(10, 15), (15, 20)]`, as if there were no overlap, where it should give
`[(10, 15), (14, 19), (18, 20)]`: each chunk should start `overlap_size` before the end of the
one before it. The function is in boltons/iterutils.py; its test is `test_chunk_ranges` in
tests/test_iterutils.py.""",
        ["tests/test_iterutils.py::test_chunk_ranges"],
    ),
    "sorted-queue": (
        "SortedPriorityQueue pops the lowest priority first",
        """`boltons.queueutils.SortedPriorityQueue` should pop the task with the highest priority
first, as `HeapPriorityQueue` does, but after `pq.add('a', 2); pq.add('b', 9); pq.add('c', 7)`,
`pq.pop()` gives `'a'` where it should give `'b'`. The queues are in boltons/queueutils.py;
the test is `test_sorted_queue` in tests/test_queueutils.py.""",
        ["tests/test_queueutils.py::test_sorted_queue"],
    ),
    "omd-poplast": (
        "OrderedMultiDict.poplast() with no key pops the first key's value",
        """`boltons.dictutils.OrderedMultiDict.poplast()`, called without a key, should remove and
return the most recently inserted value, but `OMD([('a', 1), ('b', 2)]).poplast()` gives `1`
where it should give `2`. The class is in boltons/dictutils.py; its test is `test_poplast` in
tests/test_dictutils.py.""",
        ["tests/test_dictutils.py::test_poplast"],
    ),
}

HEADER = f"""\
# Held-out bug fixes across the modules of a real library: boltons {VERSION} (BSD), built by
# bench/boltons_bugs.py. Six one-line bugs, all in at once; each bead is a user's bug
# report, judged by the library's own tests. overlays/solution is the untouched library.

[suite]
name = "boltons-bugs"
description = "boltons, a real library of utility modules, with six one-line bugs: each bead fixes one, judged by the library's own tests"
bead_timeout = 600
"""


def main() -> int:
    args = arguments(__doc__, SDIST)
    if args is None:
        return 2
    head = HEADER + pytest_rig(
        "boltons", "boltons: pure-Python utilities in the spirit of the standard library", "README.md"
    )
    return bug_suite(args, "boltons", VERSION, "boltons", BUGS, BEADS, head, PACKAGING)


if __name__ == "__main__":
    sys.exit(main())
