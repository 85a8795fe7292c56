"""Data source options: parsed once on the driver, checked for secrets.

Options and Spark conf end up in query plans, event logs and the UI, so
they carry *configuration* only: where keys live (a KMS configuration
string or a keyring path), never key bytes, passphrases or tokens.
Credentials come from the environment of each process (e.g.
``$SEALIO_PASSPHRASE_FILE``, ``$VAULT_TOKEN``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from sealio.errors import ConfigurationError
from sealio.kms import KmsRef

__all__ = ["FORMATS", "S3_OPTIONS", "Options", "parse_options"]

FORMATS = ("parquet", "csv", "json")
# A name is secret-looking when, lowercased with separators dropped, it contains one of these
# (so apiKey, api_key, x.api.key, ehsmApiKey, dataKey, primaryKeyPlaintext, keyBytes all are) ...
_SECRET_PARTS = ("key", "token", "secret", "passw", "passphrase", "pwd", "credential", "private", "auth",
                 "bearer", "cookie", "session", "cert")
# ... or one of its words (camelCase, digits, separators) is one of these short names ...
_SECRET_WORDS = {"pk", "dk", "dek", "kek", "pin", "otp", "sk"}
# ... unless it is one of the options below that name where keys live, never key material.
_NOT_SECRET = {"keys", "keyring", "masterkey", "bigdlkeyfile"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def secret_looking(name: str) -> bool:
    """Whether an option (or query) name could carry a secret: pattern-based,
    case- and separator-insensitive, with an allowlist of sealio's own
    non-secret options (keys, kms, keyring, masterKey, bigdlKeyFile)."""
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    if flat in _NOT_SECRET:
        return False
    if any(part in flat for part in _SECRET_PARTS):
        return True
    return any(w.lower() in _SECRET_WORDS for w in _WORD.findall(name))


def _refuse_credentials_in_uri(option: str, uri: str) -> None:
    """A KMS configuration string says where keys are, never who we are:
    no userinfo, no secret-looking query names. The message never quotes it."""
    try:
        parts = urlsplit(uri)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise ConfigurationError(f"option {option!r} is not a valid KMS configuration string") from None
    if "@" in parts.netloc:
        raise ConfigurationError(f"option {option!r} carries credentials (user information before '@'); "
                                 "credentials come from the environment of each process, never options")
    for name, _ in query:
        if secret_looking(name):
            raise ConfigurationError(f"option {option!r} carries a secret-looking setting {name[:40]!r}; "
                                     "credentials come from the environment of each process, never options")

# Options of the base filesystem of an ``s3://`` path (pyarrow.fs.S3FileSystem); credentials
# come from each process's environment (AWS_ACCESS_KEY_ID, ...), never from options.
S3_OPTIONS = {"s3.endpoint": "endpoint_override", "s3.region": "region", "s3.scheme": "scheme",
              "s3.anonymous": "anonymous"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_EXTENSIONS = {".parquet": "parquet", ".parq": "parquet", ".csv": "csv", ".tsv": "csv",
               ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def _bool(options: Mapping[str, str], name: str, default: bool) -> bool:
    raw = options.get(name)
    if raw is None:
        return default
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"option {name!r} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Options:
    """Everything the reader and writer need; picklable, secret-free."""

    path: str
    format: str | None
    keys: str
    master_key: str | None
    bind_path: bool
    header: bool
    delimiter: str
    infer_schema: bool
    null_value: str
    max_partition_bytes: int
    batch_rows: int
    push_filters: bool
    bigdl: str | None = None  # read BigDL PPML output of this format instead of sealed files
    bigdl_key_file: str | None = None  # JSON key settings (sealio.bigdl.load_key_file); else the environment
    storage: tuple[tuple[str, str], ...] = ()  # base filesystem options (S3_OPTIONS names), sorted

    @property
    def kms(self) -> KmsRef:
        return KmsRef(self.keys)


def _keys_config(options: Mapping[str, str]) -> str:
    keys = options.get("keys") or options.get("kms")
    keyring = options.get("keyring")
    if keys and keyring:
        raise ConfigurationError("give either option 'keys' (a KMS configuration string) or 'keyring' (a path)")
    if keyring:
        keys = "local://" + str(Path(keyring).expanduser().resolve())
    if keys and not keyring:
        _refuse_credentials_in_uri("keys" if options.get("keys") else "kms", keys)
    if not keys:
        env = os.environ.get("SEALIO_KEYRING")
        if not env:
            raise ConfigurationError("option 'keys' is required: a KMS configuration string such as "
                                     "local:///abs/path/keyring.json (or option 'keyring', or $SEALIO_KEYRING)")
        keys = "local://" + str(Path(env).expanduser().resolve())
    if "://" not in keys:
        raise ConfigurationError("option 'keys' must be a KMS configuration string (scheme://...), "
                                 "never key material")
    KmsRef(keys)  # validates the scheme syntax
    return keys


def parse_options(options: Mapping[str, str]) -> Options:
    """Validate the options of one read or write; refuse secret-looking ones."""
    for name in options:
        if secret_looking(str(name)):
            raise ConfigurationError(f"option {str(name)[:80]!r} looks like a secret; sealio takes keys from a "
                                     "keyring or KMS configuration, and credentials from the environment")
    lowered = {str(k).lower(): ("" if v is None else str(v)) for k, v in options.items()}
    path = lowered.get("path", "")
    if not path:
        raise ConfigurationError("a path is required: load(path) / save(path)")
    path = _dataset_path(path)
    fmt = lowered.get("format") or None
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ConfigurationError(f"option 'format' must be one of {', '.join(FORMATS)}, not {fmt!r}")
    delimiter = lowered.get("delimiter", lowered.get("sep", ","))
    if len(delimiter) != 1:
        raise ConfigurationError("option 'delimiter' must be one character")
    push_filters = _bool(lowered, "pushfilters", False)
    bigdl = lowered.get("bigdl") or None
    if bigdl is not None:
        from sealio.bigdl import FORMATS as BIGDL_FORMATS

        bigdl = bigdl.lower()
        if bigdl not in (*BIGDL_FORMATS, "auto"):
            raise ConfigurationError(f"option 'bigdl' must be one of {', '.join(BIGDL_FORMATS)}, auto; not {bigdl!r}")
        if fmt == "parquet":
            raise ConfigurationError("BigDL encrypts Parquet with Parquet Modular Encryption, not its CBC formats: "
                                     "read it with sealio.bigdl.parquet (option 'bigdl' is for CSV and JSON)")
    key_file = lowered.get("bigdlkeyfile") or None
    try:
        max_bytes = int(lowered.get("maxpartitionbytes", 128 << 20))
        batch_rows = int(lowered.get("batchrows", 1 << 16))
    except ValueError:
        raise ConfigurationError("options 'maxPartitionBytes' and 'batchRows' are integers") from None
    storage = tuple(sorted((k, v) for k, v in lowered.items() if k.startswith("s3.")))
    unknown = [k for k, _ in storage if k not in S3_OPTIONS]
    if unknown:
        raise ConfigurationError(f"unknown option {unknown[0][:80]!r}: the s3 options are "
                                 f"{', '.join(sorted(S3_OPTIONS))} (credentials come from the environment)")
    return Options(
        path=path,
        format=fmt,
        keys="" if bigdl else _keys_config(lowered),
        master_key=lowered.get("masterkey") or lowered.get("master_key") or None,
        bind_path=_bool(lowered, "bindpath", False),
        header=_bool(lowered, "header", False),
        delimiter=delimiter,
        infer_schema=_bool(lowered, "inferschema", False),
        null_value=lowered.get("nullvalue", ""),
        max_partition_bytes=max(1, max_bytes),
        batch_rows=max(1, batch_rows),
        push_filters=push_filters,
        bigdl=bigdl,
        bigdl_key_file=os.path.abspath(os.path.expanduser(key_file)) if key_file else None,
        storage=storage,
    )


def _dataset_path(path: str) -> str:
    """A local path made absolute (``file://`` dropped); a URI of another
    filesystem (``s3://bucket/x``, an fsspec URL) as it is, less a trailing
    ``/``. Userinfo in a URI is refused: credentials come from the environment."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    if "://" not in path:
        return os.path.abspath(os.path.expanduser(path))
    if "@" in urlsplit(path).netloc:
        raise ConfigurationError("the path carries credentials (user information before '@'); "
                                 "credentials come from the environment of each process, never options")
    return path.rstrip("/")


def format_of(options: Options, first_file: str | None) -> str:
    """The explicit ``format`` option, else the first file's extension."""
    if options.format:
        return options.format
    if first_file is not None:
        name = first_file.lower()
        for suffix in (".gz", ".bz2", ".zst", ".lz4"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        fmt = _EXTENSIONS.get(os.path.splitext(name)[1])
        if fmt:
            return fmt
    raise ConfigurationError("option 'format' is required (parquet, csv or json): it cannot be "
                             "told from the file names")
