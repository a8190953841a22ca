"""Reading data files as UTF-8 with errors that name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

BOM = "\ufeff"


def decode_error_message(path: Path, raw: bytes, err: UnicodeDecodeError) -> str:
    line = raw[: err.start].count(b"\n") + 1
    return f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start}); re-encode the file as UTF-8"


def read_utf8(path: str | Path, error: type[Exception] = ValueError) -> str:
    """The file's text (a leading byte-order mark dropped); undecodable bytes raise ``error``
    with ``path:line``."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(decode_error_message(path, raw, err)) from None
    return text[1:] if text.startswith(BOM) else text


def open_log(path: str | Path) -> BinaryIO:
    """A sample log opened for binary reading; ``*.gz`` (a compressed committed log) is
    decompressed on the fly, so readers take either form."""
    path = Path(path)
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def is_sample_log(path: str | Path) -> bool:
    return str(path).endswith((".jsonl", ".jsonl.gz"))


def read_log_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a (possibly gzipped) sample log, as UTF-8 text."""
    with open_log(path) as fh:
        return [line for line in fh.read().decode("utf-8").splitlines() if line.strip()]


def compressed_twin(path: Path) -> Path | None:
    """``path`` itself if it exists, else ``path.gz`` if that does (a log compressed after
    its results file named it)."""
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    return gz if gz.is_file() else None
