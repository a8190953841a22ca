"""Reading data files as UTF-8 with errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

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
