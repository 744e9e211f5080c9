from dataclasses import fields

import pytest
from conftest import gt_inprocess

from gastown.errors import ConfigError
from gastown.town import catalog, roster, schema

MIB = 1024 * 1024


@pytest.mark.parametrize(
    "layers, kv_heads, head_dim, cache, context, expected_mib",
    [
        (32, 32, 128, "f16", 4096, 2048.0),  # Llama-2-7B: 0.5 MiB a token, 2 GiB at 4k
        (32, 8, 128, "f16", 8192, 1024.0),  # Llama-3-8B (GQA): 128 KiB a token
        (28, 4, 128, "f16", 32768, 1792.0),  # Qwen2.5-7B: 56 KiB a token
        (32, 8, 128, "q8_0", 8192, 1024.0 * 34 / 64),  # q8_0: 34 bytes per 32 values
        (30, 3, 64, "f16", 8192, 180.0),  # SmolLM2-135M
    ],
)
def test_kv_cache_formula_against_known_model_shapes(layers, kv_heads, head_dim, cache, context, expected_mib):
    spec = roster.ModelSpec(
        "m",
        "m",
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        cache_type_k=cache,
        cache_type_v=cache,
        context=context,
    )
    assert spec.kv_mib() == pytest.approx(expected_mib)
    assert spec.kv_bytes_per_token() == 2 * layers * kv_heads * head_dim * roster.CACHE_TYPE_BYTES[cache]


def test_footprint_is_weights_plus_kv_times_context_times_slots():
    spec = roster.ModelSpec("q3b", "q3b", weights_mib=1930, kv_mib_per_token=0.11, context=6144, parallel=2)
    assert spec.footprint_mib() == pytest.approx(1930 + 0.11 * 6144 * 2)
    mixed = roster.ModelSpec(
        "r",
        "r",
        layers=64,
        kv_heads=8,
        head_dim=128,
        cache_type_k="q8_0",
        cache_type_v="q4_0",
        context=1,
    )
    assert mixed.kv_bytes_per_token() == pytest.approx(2 * 64 * 8 * 128 * (34 / 32 + 18 / 32) / 2)


def test_prices():
    spec = roster.ModelSpec("c", "c", local=False, price_in_per_mtok=2.0, price_out_per_mtok=12.0)
    assert spec.price(1_000_000, 500_000) == pytest.approx(8.0)


@pytest.mark.parametrize(
    "models, roles, message",
    [
        ({"m": {"colour": "red"}}, {}, "models.m: unknown key 'colour'"),
        ({"m": {"cache_type": "q3_x"}}, {}, 'unknown KV cache type "q3_x"'),
        ({"m": {"context": 0}}, {}, "models.m.context: must be a whole number"),
        ({"m": {"kind": "remote"}}, {}, 'must be "local" or "cloud"'),
        ({"m": {"kind": "cloud"}}, {}, "a cloud model needs its endpoint"),
        ({"m": {"fallback": "ghost"}}, {}, "no model named 'ghost'"),
        ({}, {"polecat": {"model": "ghost"}}, "roles.polecat names model 'ghost'"),
        ({}, {"polecat": {"when_nothing_fits": "panic"}}, '"cloud" or "wait"'),
        ({"m": {}}, {"polecat": {"bands": [{"model": "m"}]}}, "needs max_tokens and model"),
    ],
)
def test_config_errors_name_the_key(models, roles, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        roster.load(models, roles)


def definition(name):
    return schema.schema_of("town")["$defs"][name]


def sample(rule):
    """A valid value for ``rule`` that no dataclass default equals (the last choice, a 7, an "x", false)."""
    if "$ref" in rule:
        return sample(definition(rule["$ref"].removeprefix("#/$defs/")))
    if "enum" in rule:
        return rule["enum"][-1]
    if "anyOf" in rule:
        return sample(rule["anyOf"][-1])
    kind = rule["type"]
    if kind == "object":
        return {key: sample(sub) for key, sub in rule["properties"].items()}
    if kind == "array":
        return [sample(rule["items"])]
    value = {"integer": 7, "number": 7.5, "string": "x", "boolean": False}[kind]
    return min(value, rule["maximum"]) if "maximum" in rule else value  # a top_p is at most 1


def test_the_schema_the_parser_and_the_dataclasses_name_the_same_keys():
    """A key added to town.schema.json and not to ModelSpec or RoleRule (or the other way) goes red."""
    spec_fields = {f.name for f in fields(roster.ModelSpec)}
    assert roster.MODEL_KEYS == set(definition("model")["properties"])
    assert roster.MODEL_KEYS - roster.MODEL_ONLY_KEYS == spec_fields - roster.SPEC_ONLY_FIELDS
    assert roster.MODEL_ONLY_KEYS <= roster.MODEL_KEYS and not roster.SPEC_ONLY_FIELDS & roster.MODEL_KEYS
    assert (
        roster.ROLE_KEYS
        == set(definition("role")["properties"])
        == {f.name for f in fields(roster.RoleRule)} - {"role"}
    )
    assert set(definition("band")["properties"]) == {f.name for f in fields(roster.Band)}
    assert definition("cache_type")["enum"] == list(roster.CACHE_TYPE_BYTES)


def test_the_parser_reads_every_key_the_schema_defines():
    """Every key set to a value its default is not: every field comes out changed."""
    table = sample(definition("model"))
    assert set(table) == roster.MODEL_KEYS
    spec = roster.parse_model("m", table)
    unread = [f.name for f in fields(spec) if f.name != "name" and getattr(spec, f.name) == f.default]
    assert unread == [] and spec.extra == {"notes": "x"} and not spec.local
    assert spec.endpoints == ("x",) and spec.cache_type_k == spec.cache_type_v == "iq4_nl"
    assert isinstance(spec.context, int) and isinstance(spec.weights_mib, float) and spec.cpu_cores == (7,)
    rule = roster.parse_role("polecat", sample(definition("role")))
    assert [f.name for f in fields(rule) if f.name != "role" and getattr(rule, f.name) == f.default] == []
    assert rule.bands == (roster.Band(7, "x", 7),)


@pytest.mark.parametrize(
    "models, roles, message, hint",
    [
        ({"m": {"colour": "red"}}, {}, "town.toml: models.m: unknown key 'colour'", "known keys: api_key_env, "),
        (
            {"m": {"context": "4k"}},
            {},
            'town.toml: models.m.context: must be a whole number ≥ 1 and ≤ 10000000, got "4k"',
            None,
        ),
        ({"m": {"device": "tpu"}}, {}, 'town.toml: models.m.device: must be "gpu", "cpu" or "cloud", got "tpu"', None),
        (
            {"m": {"cpu_cores": [0, -1]}},
            {},
            "town.toml: models.m.cpu_cores[1]: must be a whole number ≥ 0, got -1",
            None,
        ),
        (
            {"m": {"endpoint": 7}},
            {},
            "town.toml: models.m.endpoint: must be a string or a list of strings, got 7",
            None,
        ),
        (
            {"m": {"cache_type_v": "q3"}},
            {},
            'town.toml: models.m.cache_type_v: unknown KV cache type "q3"',
            "one of f32,",
        ),
        (
            {"m": {"timeout_s": float("inf")}},
            {},
            "town.toml: models.m.timeout_s: must be a number above 0 and ≤ 86400, got inf",
            None,
        ),
        (
            {"smollm2-1.7b": {"tool_mode": "json"}},
            {},
            'models.smollm2-1.7b.tool_mode: must be "native", "text" or "schema"',
            None,
        ),
        ({"m": {"sampling": {"top_k": "many"}}}, {}, "models.m.sampling.top_k: must be a whole number", None),
        ({"m": {"sampling": {"top_k": True}}}, {}, "top_k: must be a whole number ≥ 0 and ≤ 100000, got true", None),
        ({"m": {"sampling": {"temperature": 0.1}}}, {}, "models.m.sampling: unknown key 'temperature'", None),
        ({"m": 3}, {}, "town.toml: models.m must be a table", None),
        ({}, {"polecat": {"bead_seconds": float("nan")}}, "roles.polecat.bead_seconds: must be a finite number", None),
        ({}, {"polecat": {"bead_seconds": 0}}, "roles.polecat.bead_seconds: must be a number above 0", None),
        (
            {},
            {"polecat": {"bands": [{"max_tokens": 9, "model": "m", "slots": 2}]}},
            "bands[0]: unknown key 'slots'",
            None,
        ),
    ],
)
def test_a_schema_violation_names_the_key_and_what_it_must_be(models, roles, message, hint):
    with pytest.raises(ConfigError) as refused:
        roster.load(models, roles)
    assert message in refused.value.message
    assert hint is None or refused.value.hint.startswith(hint)


def test_whole_numbers_written_as_floats_are_read_as_ints():
    spec = roster.parse_model("m", {"context": 2048.0, "weights_mib": 10})
    assert spec.context == 2048 and isinstance(spec.context, int) and isinstance(spec.weights_mib, float)


def test_with_no_models_every_role_uses_the_embedded_model():
    loaded = roster.load({}, {})
    assert loaded.candidates("polecat") == ["embedded"]
    assert loaded.model("embedded").device == "cpu"


@pytest.fixture
def no_pulled_models(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_with_no_models_and_nothing_pulled_every_role_uses_the_tiny_model(no_pulled_models):
    loaded = roster.load({}, {})
    assert loaded.default == "embedded" and loaded.candidates("mayor") == ["embedded"]
    assert loaded.model("embedded").model == loaded.model("tiny").model == "smollm2-135m-instruct"


def test_the_known_models_are_in_every_roster_with_their_shapes(no_pulled_models):
    loaded = roster.load({}, {"polecat": {"model": "qwen2.5-coder-0.5b"}, "crew": {"model": "tiny"}})
    big = loaded.model("qwen2.5-coder-1.5b")
    assert (big.layers, big.kv_heads, big.head_dim, big.device) == (28, 2, 128, "cpu")
    assert big.kv_bytes_per_token() == 2 * 28 * 2 * 128 * 2  # 56 KiB a token at f16
    assert big.model_path is None and not big.structured_output  # not pulled; llama-cpp-python refuses json_schema
    assert loaded.model("qwen2.5-coder-0.5b").kv_bytes_per_token() == 2 * 24 * 2 * 64 * 2
    assert loaded.candidates("polecat") == ["qwen2.5-coder-0.5b"]
    assert loaded.builtin == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "tiny", "embedded"}


def test_town_toml_wins_over_a_known_model_of_the_same_name(no_pulled_models):
    loaded = roster.load({"qwen2.5-coder-1.5b": {"endpoints": ["http://127.0.0.1:8080/v1"], "context": 4096}}, {})
    spec = loaded.model("qwen2.5-coder-1.5b")
    assert spec.endpoints == ("http://127.0.0.1:8080/v1",) and spec.context == 4096
    assert "qwen2.5-coder-1.5b" not in loaded.builtin
    assert loaded.candidates("polecat") == ["qwen2.5-coder-1.5b"]  # defined by the town: the default


def test_a_known_model_named_without_an_endpoint_or_launch_is_tuned_not_replaced(no_pulled_models):
    """A town that only wants other sampling for the 1.5B keeps its device, context, tool mode."""
    loaded = roster.load({"qwen2.5-coder-1.5b": {"sampling": {"top_p": 0.9, "top_k": 40}, "context": 8192}}, {})
    spec, known = loaded.model("qwen2.5-coder-1.5b"), roster.known_spec(catalog.QWEN_1_5B)
    assert dict(spec.sampling) == {"top_p": 0.9, "top_k": 40} and spec.context == 8192
    assert (spec.device, spec.tool_mode, spec.weights_mib, spec.layers) == (
        known.device,
        known.tool_mode,
        known.weights_mib,
        known.layers,
    )
    assert spec.extra["catalog"] == "qwen2.5-coder-1.5b" and "qwen2.5-coder-1.5b" not in loaded.builtin
    alone = roster.load({"qwen2.5-coder-1.5b": {"sampling": {"top_k": 40}}}, {}).model("qwen2.5-coder-1.5b")
    assert dict(alone.sampling) == {"top_p": 0.8, "top_k": 40}  # key by key: the model's top_p stays
    with pytest.raises(ConfigError, match="models.qwen2.5-coder-1.5b.sampling.top_k: must be a whole number"):
        roster.load({"qwen2.5-coder-1.5b": {"sampling": {"top_k": "many"}}}, {})


def test_gt_models_says_which_model_roles_get_by_default(town, no_pulled_models):
    result = town.gt("models")
    assert result.code == 0, result.err
    assert "default for roles with no model: embedded (the tiny SmolLM2-135M)" in result.out
    assert "qwen2.5-coder-1.5b is not pulled" in result.out
    assert "not pulled: gt models pull qwen2.5-coder-0.5b" in result.out
    rows = {row["name"]: row for row in town.gt("models", "--json").json()["models"]}
    assert {"qwen2.5-coder-1.5b", "tiny"} <= set(rows) and "embedded" not in rows  # an alias, not a second model


def test_gt_models_shows_how_each_model_is_given_its_tools_template_and_sampling(town, no_pulled_models):
    listed = {line.split()[0]: line for line in town.gt("models").out.splitlines() if " ctx " in line}
    assert "tools text " in listed["qwen2.5-coder-1.5b"] and "tools schema " in listed["tiny"]
    assert "sampling top_p=0.8,top_k=20 " in listed["qwen2.5-coder-1.5b"] and "sampling - " in listed["tiny"]
    assert "template chatml " in listed["qwen2.5-coder-1.5b"] and "template - " in listed["tiny"]
    rows = {row["name"]: row for row in town.gt("models", "--json").json()["models"]}
    assert rows["qwen2.5-coder-1.5b"]["tool_mode"] == "text" and rows["tiny"]["tool_mode"] == "schema"
    assert rows["qwen2.5-coder-1.5b"]["sampling"] == {"top_p": 0.8, "top_k": 20} and rows["tiny"]["sampling"] == {}
    assert rows["qwen2.5-coder-1.5b"]["template"] == "chatml" and rows["tiny"]["template"] is None


def test_gt_models_outside_any_town_lists_the_known_models_and_says_so(tmp_path, no_pulled_models, monkeypatch):
    result = gt_inprocess("models", cwd=tmp_path)  # a folder in no git repository: no town
    assert result.code == 0, result.err
    assert result.err.startswith("gt: no town here: these are gastown's known models"), result.err
    listed = {line.split()[0] for line in result.out.splitlines() if " ctx " in line}
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "tiny"} <= listed
    assert "not pulled: gt models pull qwen2.5-coder-1.5b" in result.out
    named = gt_inprocess("--town", str(tmp_path / "nowhere"), "models", cwd=tmp_path)
    assert named.code != 0 and "no such directory" in named.err  # a town asked for by name is never replaced
    monkeypatch.setenv("GT_TOWN", str(tmp_path / "mistyped"))
    by_env = gt_inprocess("models", cwd=tmp_path)
    assert by_env.code != 0 and "no such directory" in by_env.err and "no town here" not in by_env.err
