"""Query options of KMS configuration strings, refusing embedded secrets.

A configuration string says *where* the keys are (and how patiently to ask),
never *who we are*: credentials come from the environment or files only, so
strings can be logged, pickled to workers and shown in errors.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from sealio.errors import KmsError
from sealio.kms._retry import RetryPolicy

# Query names that would smuggle a secret into the string.
_SECRET_NAMES = {"token", "password", "passwd", "secret", "secret_key", "secret_access_key",
                 "access_key", "access_key_id", "aws_access_key_id", "aws_secret_access_key",
                 "session_token", "aws_session_token", "key_material", "credentials", "auth",
                 "x-vault-token", "vault_token", "bao_token", "role_id", "secret_id",
                 "passphrase", "pass", "pw", "pwd", "apikey", "api_key", "api-key", "private_key",
                 "client_secret", "sig", "signature", "sas", "authorization", "bearer", "cookie"}
_SECRET_PARTS = ("token", "secret", "password", "passwd", "passphrase", "credential", "apikey", "api_key",
                 "api-key", "private")

MAX_URI_LENGTH = 2048  # characters; a longer configuration string is refused unparsed
_SHOWN = 160


def _secret_name(name: str) -> bool:
    low = name.lower()
    return low in _SECRET_NAMES or any(part in low for part in _SECRET_PARTS)


def check_config(uri: str) -> None:
    """Refuse (KmsError, never echoing the string) a configuration string that
    is overlong, holds control characters, or carries a credential: userinfo,
    a fragment, or a secret-looking query name. Applies to every scheme."""
    if len(uri) > MAX_URI_LENGTH:
        raise KmsError(f"a KMS configuration string is at most {MAX_URI_LENGTH} characters, "
                       f"not {len(uri)}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise KmsError("a KMS configuration string must not contain control characters")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise KmsError(f"not a valid KMS configuration string ({parts_only(uri)}): "
                       "its host part does not parse") from None
    if "@" in parts.netloc:
        raise KmsError(f"credentials are not accepted in a KMS configuration string "
                       f"({redact(uri)}): use environment variables or files")
    if parts.fragment or uri.endswith("#"):
        raise KmsError(f"a KMS configuration string has no #fragment ({redact(uri)})")
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _secret_name(name):
            raise KmsError(f"credentials are not accepted in a KMS configuration string "
                           f"({redact(uri)}: {shorten(name, 40)!r}): use environment variables or files")


def refuse_userinfo(uri: str, netloc: str) -> None:
    if "@" in netloc:
        raise KmsError(f"credentials are not accepted in a KMS configuration string "
                       f"({redact(uri)}): use environment variables or files")


def shorten(text: str, limit: int = _SHOWN) -> str:
    return text if len(text) <= limit else f"{text[:limit - 40]}...{text[-20:]} ({len(text)} characters)"


def parts_only(uri: str) -> str:
    """The scheme of ``uri`` and nothing else (for strings that do not parse)."""
    scheme, sep, _ = uri.partition("://")
    return f"{shorten(scheme, 40)}://..." if sep else "..."


def redact(uri: str) -> str:
    """``uri`` for a message: userinfo and query values masked, no fragment,
    shortened; never raises."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return parts_only(uri)
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(f"{shorten(k, 40)}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return shorten(f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else ""))


def options(uri: str, query: str, allowed: set[str]) -> dict[str, str]:
    """The query as a dict: every name must be in ``allowed``, once."""
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise KmsError(f"malformed options in KMS configuration {redact(uri)} (expected name=value&...)") from None
    for name, value in pairs:
        low = name.lower()
        if _secret_name(name):
            raise KmsError(f"credentials are not accepted in a KMS configuration string "
                           f"({redact(uri)}: {shorten(name, 40)!r}): use environment variables or files")
        if low not in allowed:
            raise KmsError(f"unknown option {shorten(name, 40)!r} in KMS configuration {redact(uri)} "
                           f"(known: {', '.join(sorted(allowed))})")
        if low in out:
            raise KmsError(f"option {shorten(name, 40)!r} given twice in {redact(uri)}")
        out[low] = value
    return out


def retry_policy(uri: str, opts: dict[str, str]) -> RetryPolicy:
    """``timeout=SECONDS`` and ``retries=N`` options as a :class:`RetryPolicy`."""
    try:
        kwargs: dict[str, float | int] = {}
        if "timeout" in opts:
            kwargs["timeout"] = float(opts["timeout"])
        if "retries" in opts:
            kwargs["retries"] = int(opts["retries"])
        return RetryPolicy(**kwargs)  # type: ignore[arg-type]
    except (ValueError, OverflowError):  # float()'s message would echo the value
        raise KmsError(f"bad timeout/retries in KMS configuration {redact(uri)}: timeout is seconds > 0, "
                       "retries an integer 0..20") from None
