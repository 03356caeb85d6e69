"""Dataset files: lookup, checksum verification, decoding caches and verified downloads."""
from __future__ import annotations

import hashlib
import os
import pathlib
from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

from ..errors import AutogradError


class DatasetNotFoundError(AutogradError, FileNotFoundError):
    """A dataset file is not where it was looked for."""


class DatasetIntegrityError(AutogradError, ValueError):
    """A dataset file is truncated, corrupt, or not the published file."""


@dataclass(frozen=True)
class FileSpec:
    """One published file: its name, size and SHA-256, and where it can be fetched."""
    name: str
    size: int
    sha256: str
    urls: Tuple[str, ...]


def default_root() -> pathlib.Path:
    """$AUTOGRAD_DATASETS, else ~/.cache/autograd/datasets."""
    env = os.environ.get("AUTOGRAD_DATASETS")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "autograd" / "datasets"


def _how_to_get(owner: str, spec: FileSpec) -> str:
    return (f"pass download=True to {owner}(...) to fetch it (checksum-verified), or download "
            f"{spec.urls[0]} yourself")


def sha256_of(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def check_file(owner: str, path: pathlib.Path, specs: Sequence[FileSpec]) -> FileSpec:
    """The one of `specs` (published forms of a file) that `path` is, by size and SHA-256;
    DatasetIntegrityError if none."""
    size = path.stat().st_size
    fits = [s for s in specs if s.size == size]
    if not fits:
        spec = specs[0]
        kind = "truncated" if size < spec.size else "too long"
        raise DatasetIntegrityError(
            f"{owner}: {path} is {kind}: {size} bytes, expected {spec.size} bytes "
            f"(sha256 {spec.sha256}); delete it and {_how_to_get(owner, spec)}")
    digest = sha256_of(path)
    for spec in fits:
        if digest == spec.sha256:
            return spec
    raise DatasetIntegrityError(
        f"{owner}: {path} is corrupt: sha256 {digest}, expected {fits[0].sha256}; delete it "
        f"and {_how_to_get(owner, fits[0])}")


def locate(owner: str, dirs: Sequence[pathlib.Path],
           choices: Sequence[FileSpec]) -> Tuple[pathlib.Path, FileSpec]:
    """The first of `choices` (alternative forms of one file) present in any of `dirs`."""
    for d in dirs:
        for spec in choices:
            if (d / spec.name).is_file():
                return d / spec.name, spec
    where = " or ".join(str(d) for d in dirs)
    names = " or ".join(s.name for s in choices)
    spec = choices[0]
    raise DatasetNotFoundError(
        f"{owner}: {names} not found in {where} (expected {spec.size} bytes, sha256 "
        f"{spec.sha256}); {_how_to_get(owner, spec)}")


def open_url(url: str, timeout: float = 60.0):
    """The response of a GET (one place to replace in tests: downloads never run in tests)."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "autograd-datasets"})
    return urllib.request.urlopen(request, timeout=timeout)


def download(owner: str, spec: FileSpec, dest_dir: pathlib.Path) -> pathlib.Path:
    """Fetch `spec` into dest_dir from the first mirror that serves the published bytes.

    The file is streamed into a temporary file beside its destination, hashed on the way, and
    renamed into place only when size and SHA-256 match, so a reader never sees a partial file.
    """
    import tempfile

    dest_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in spec.urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest_dir)
        try:
            h, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, open_url(url) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    h.update(block)
                    size += len(block)
                    out.write(block)
            if size != spec.size or h.hexdigest() != spec.sha256:
                errors.append(f"{url}: got {size} bytes with sha256 {h.hexdigest()}")
                continue
            os.replace(tmp, dest_dir / spec.name)
            return dest_dir / spec.name
        except OSError as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetIntegrityError(
        f"{owner}: could not download {spec.name} (expected {spec.size} bytes, sha256 "
        f"{spec.sha256}): " + "; ".join(errors))


_CACHE: Dict[tuple, object] = {}


def cached(path: pathlib.Path, decode: Callable[[pathlib.Path], object]):
    """decode(path), computed once per process per file version (decoded arrays are read-only)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = decode(path)
    return _CACHE[key]
