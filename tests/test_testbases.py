"""Where an inherited test is written: a unittest mixin in the test package, found through
the test file's imports, relative or absolute."""

from gastown.agents.testbases import written_in

MIXIN = (
    "import unittest\n\n\nclass CacheTestMixin:\n    Cache = None\n\n"
    "    def test_pop(self):\n        self.assertEqual(1, self.Cache().pop(1))\n"
)


def reader(files: dict[str, str]):
    return files.get


def test_a_test_a_mixin_holds_is_found_through_a_relative_import():
    files = {
        "tests/__init__.py": MIXIN,
        "tests/test_lru.py": (
            "import unittest\nfrom . import CacheTestMixin\n\n\n"
            "class LRUTest(unittest.TestCase, CacheTestMixin):\n    Cache = dict\n\n"
            "    def test_lru(self):\n        pass\n"
        ),
    }
    ids = ["tests/test_lru.py::LRUTest::test_pop", "tests/test_lru.py::LRUTest::test_lru"]
    assert written_in(ids, reader(files), files) == ["tests/__init__.py::CacheTestMixin::test_pop"]


def test_bases_are_followed_through_absolute_imports_aliases_modules_and_the_same_file():
    files = {
        "tests/base.py": "class Deep:\n    def test_deep(self):\n        pass\n",
        "tests/mixins/__init__.py": "",
        "tests/mixins/more.py": "from tests.base import Deep as Lower\n\n\nclass More(Lower):\n    pass\n",
        "tests/test_x.py": (
            "import unittest\nfrom .mixins import more\n\n\n"
            "class Local(more.More):\n    def test_local(self):\n        pass\n\n\n"
            "class XTest(unittest.TestCase, Local):\n    pass\n"
        ),
    }
    found = written_in(
        ["tests/test_x.py::XTest::test_deep", "tests/test_x.py::XTest::test_local[1-2]"], reader(files), files
    )
    assert found == ["tests/base.py::Deep::test_deep", "tests/test_x.py::Local::test_local"]


def test_a_test_its_own_class_defines_or_a_base_outside_the_rig_gives_nothing():
    files = {
        "tests/test_y.py": (
            "import unittest\nfrom somewhere_else import Base\n\n\n"
            "class YTest(unittest.TestCase, Base):\n    def test_own(self):\n        pass\n\n\n"
            "class Loop(Loop):\n    pass\n"  # a class that names itself: no endless search
        ),
    }
    ids = [
        "tests/test_y.py::YTest::test_own",  # its own
        "tests/test_y.py::YTest::test_from_base",  # Base is not the rig's
        "tests/test_y.py::Loop::test_z",
        "tests/test_y.py::test_plain",  # no class
        "tests/test_gone.py::Gone::test_a",  # no such file
    ]
    assert written_in(ids, reader(files), files) == []


def test_a_class_named_like_its_imported_base_and_imports_beside_or_aliased_are_followed():
    files = {
        "tests/base.py": "class TestCase:\n    def test_shared(self):\n        pass\n",
        "tests/helpers.py": "class Mixin:\n    def test_helped(self):\n        pass\n",
        "tests/test_z.py": (
            "import tests.helpers as th\nfrom .base import TestCase\nfrom helpers import Mixin\n\n\n"
            "class TestCase(TestCase):\n    pass\n\n\n"  # shadows its base: the imported one is meant
            "class ZTest(TestCase, Mixin):\n    pass\n\n\nclass WTest(th.Mixin):\n    pass\n"
        ),
    }
    ids = [
        "tests/test_z.py::ZTest::test_shared",
        "tests/test_z.py::ZTest::test_helped",
        "tests/test_z.py::WTest::test_helped",
    ]
    assert written_in(ids, reader(files), files) == [
        "tests/base.py::TestCase::test_shared",
        "tests/helpers.py::Mixin::test_helped",
    ]


def test_classes_that_name_each_other_are_each_read_once():
    reads: list[str] = []
    source = "class A(B):\n    pass\n\n\nclass B(A):\n    pass\n\n\nclass T(A, B):\n    pass\n"
    files = {"tests/test_c.py": source}

    def counting(path: str) -> str | None:
        reads.append(path)
        return files.get(path)

    assert written_in(["tests/test_c.py::T::test_x"], counting, files) == []
    assert reads == ["tests/test_c.py"]  # parsed once, each class looked in once
