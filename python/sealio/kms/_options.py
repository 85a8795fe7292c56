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
                 "x-vault-token", "vault_token", "bao_token", "role_id", "secret_id"}


def refuse_userinfo(uri: str, netloc: str) -> None:
    if "@" in netloc:
        raise KmsError(f"credentials are not accepted in a KMS configuration string "
                       f"({redact(uri)}): use environment variables or files")


def redact(uri: str) -> str:
    """``uri`` with any userinfo and query values masked (for error messages)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def options(uri: str, query: str, allowed: set[str]) -> dict[str, str]:
    """The query as a dict: every name must be in ``allowed``, once."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        low = name.lower()
        if low in _SECRET_NAMES or "token" in low or "secret" in low or "password" in low:
            raise KmsError(f"credentials are not accepted in a KMS configuration string "
                           f"({redact(uri)}: {name!r}): use environment variables or files")
        if low not in allowed:
            raise KmsError(f"unknown option {name!r} in KMS configuration {redact(uri)} "
                           f"(known: {', '.join(sorted(allowed))})")
        if low in out:
            raise KmsError(f"option {name!r} given twice in {redact(uri)}")
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
    except ValueError as e:
        raise KmsError(f"bad timeout/retries in KMS configuration {redact(uri)}: {e}") from None
