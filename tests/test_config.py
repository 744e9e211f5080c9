"""``[machine]`` and ``[cost]`` are typed: a bad value or an unknown key is refused by name."""

import datetime

import pytest
from conftest import git

from gastown.errors import ConfigError, GastownError, as_written
from gastown.evaluation.suite import town_toml
from gastown.town import config, events, schema
from gastown.town.config import CostConfig, MachineConfig
from gastown.town.resources import data_dir
from gastown.town.store import Update

BAD_MACHINE = [
    ("vram_mib", '"10GiB"', "a number ≥ 0"),
    ("desktop_reserve_mib", "-1", "a number ≥ 0"),
    ("gpu_index", "1.5", "a whole number ≥ 0"),
    ("ram_mib", "0", "a positive number"),
    ("ram_reserve_mib", "true", "a number ≥ 0"),
    ("cpu_threads", "0", "a positive whole number"),
    ("reserved_cores", "[0, -1]", "a list of core numbers"),
    ("reserved_cores", '"0-3"', "a list of core numbers"),
    ("gpu_watts", "nan", "a number ≥ 0"),
    ("cpu_watts", '"125W"', "a number ≥ 0"),
]
BAD_COST = [
    ("price_per_kwh", '"cheap"', "a number ≥ 0"),
    ("price_per_kwh", "-0.15", "a number ≥ 0"),
    ("compare_to", "7", "a model's name"),
    ("compare_to", '""', "a model's name"),
]


BAD_VALUES = [("machine", *bad) for bad in BAD_MACHINE] + [("cost", *bad) for bad in BAD_COST]


@pytest.mark.parametrize(
    ("section", "key", "value", "said"), BAD_VALUES, ids=[f"{s}.{k}={v}" for s, k, v, _ in BAD_VALUES]
)
def test_a_bad_value_names_its_section_and_key(section, key, value, said):
    with pytest.raises(ConfigError) as refused:
        config.parse(f"[{section}]\n{key} = {value}\n")
    message = refused.value.message
    assert message.startswith(f"town.toml: {section}.{key}: must be {said}") and ", got " in message


def test_the_message_says_what_was_wrong_and_what_was_there():
    with pytest.raises(ConfigError) as refused:
        config.parse('[machine]\ndesktop_reserve_mib = "lots"\n')
    assert refused.value.message == 'town.toml: machine.desktop_reserve_mib: must be a number ≥ 0, got "lots"'


@pytest.mark.parametrize(
    ("section", "key", "known"),
    [("machine", "vram", "cpu_threads, cpu_watts, desktop_reserve_mib"), ("cost", "currency", "compare_to, price_")],
)
def test_an_unknown_key_is_named_with_the_known_ones(section, key, known):
    with pytest.raises(ConfigError, match=f"town.toml: {section}.{key}: unknown key \\(known: {known}"):
        config.parse(f"[{section}]\n{key} = 1\n")


@pytest.mark.parametrize(
    "text",
    [f"[{s}]\n{k} = {v}\n" for s, k, v, _ in BAD_VALUES if v != "nan"]
    + ["[machine]\nvram = 1\n", "[cost]\ncurrency = 1\n"],
)
def test_the_schema_refuses_them_too(text):
    assert schema.problems("town", config.parse_toml(text))


def test_the_aerobeat_machine_reads_typed():
    parsed = config.parse((data_dir("rigs") / "aerobeat" / "town.toml").read_text())
    assert schema.problems("town", parsed.raw) == []
    assert parsed.machine == MachineConfig(
        vram_mib=10240,
        desktop_reserve_mib=1650,
        ram_mib=131072,
        ram_reserve_mib=16384,
        cpu_threads=20,
        gpu_watts=320,
        cpu_watts=125,
    )
    assert parsed.machine.watts_for("gpu") == 320 and parsed.machine.watts_for("cpu") == 125
    assert parsed.cost == CostConfig(price_per_kwh=0.15, compare_to="gemini-3-pro")


def test_absent_sections_are_the_defaults_and_write_back_as_nothing():
    parsed = config.parse("")
    assert parsed.machine == MachineConfig() and parsed.cost == CostConfig(price_per_kwh=0.15, compare_to=None)
    assert parsed.machine.watts_for("gpu") is None
    assert parsed.machine.to_dict() == {} and parsed.cost.to_dict() == {}


def test_the_eval_town_gets_the_typed_tables_back_and_reads_the_same():
    given = config.parse(
        "[machine]\nvram_mib = 8192\ngpu_index = 1\nreserved_cores = [0, 1]\ncpu_watts = 90\n\n"
        '[cost]\nprice_per_kwh = 0.3\ncompare_to = "cloudpro"\n'
    )
    assert given.machine.to_dict() == {"vram_mib": 8192.0, "gpu_index": 1, "reserved_cores": [0, 1], "cpu_watts": 90.0}
    written = town_toml('[town]\nname = "eval"\n', given, None, [])
    again = config.parse(written)
    assert schema.problems("town", again.raw) == []
    assert again.machine == given.machine and again.cost == given.cost


def test_the_store_refuses_to_publish_a_bad_machine_value(town):
    store = town.store()
    before = town.tip()
    current = store.snapshot().read("town.toml") or b""
    bad = current + b'\n[machine]\ndesktop_reserve_mib = "lots"\n'
    with pytest.raises(GastownError) as refused:
        store.update(lambda snap: Update(events.Event(events.CONFIG, summary="break it"), files={"town.toml": bad}))
    assert "machine" in str(refused.value.message) and "desktop_reserve_mib" in str(refused.value.message)
    assert town.tip() == before


def plant(town, text: str) -> None:
    """Commit ``text`` as town.toml on tasks with plain git, past the store's check (a hand-made commit)."""
    blob = git(town.path, "hash-object", "-w", "--stdin", input=text).strip()
    listing = git(town.path, "ls-tree", "tasks")
    rows = [row for row in listing.splitlines() if not row.endswith("\ttown.toml")]
    tree = git(town.path, "mktree", input="\n".join([*rows, f"100644 blob {blob}\ttown.toml"]) + "\n").strip()
    identity = ["-c", "user.name=person", "-c", "user.email=person@example.com"]
    commit = git(town.path, *identity, "commit-tree", tree, "-p", "tasks", "-m", "edit town.toml by hand").strip()
    git(town.path, "update-ref", "refs/heads/tasks", commit)


@pytest.mark.parametrize("command", [("validate",), ("models", "fit")])
def test_a_gt_command_on_a_bad_machine_value_says_which_key_and_exits_2(town, command):
    current = git(town.path, "show", "tasks:town.toml")
    plant(town, current + '\n[machine]\ndesktop_reserve_mib = "lots"\n')
    result = town.gt_process(*command)
    assert result.code == 2, result.out + result.err
    assert 'town.toml on the tasks branch: machine.desktop_reserve_mib: must be a number ≥ 0, got "lots"' in result.err
    assert "Traceback" not in result.err


def test_the_sandbox_is_bubblewrap_unless_the_town_names_the_unconfined_mode():
    from gastown.errors import ConfigError
    from gastown.town import config as configmod

    assert configmod.parse("").sandbox_mode == "bwrap"
    assert configmod.parse('[sandbox]\nmode = "none"\n').sandbox_mode == "none"
    with pytest.raises(ConfigError, match=r'sandbox\.mode: "off" is not a mode'):
        configmod.parse('[sandbox]\nmode = "off"\n')


def test_a_value_is_quoted_back_as_toml_writes_it():
    assert as_written(True) == "true" and as_written("x") == '"x"' and as_written([1, "a"]) == '[1, "a"]'
    assert as_written({"qwen2.5": {"top_k": False}}) == '{ "qwen2.5" = { top_k = false } }'  # a dotted key quoted
    assert as_written(datetime.date(2026, 12, 2)) == "2026-12-02" and as_written(0.5) == "0.5"
