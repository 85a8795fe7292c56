"""AWS KMS as a sealio KMS (on ``boto3``).

``wrap_key`` calls KMS ``Encrypt`` with an EncryptionContext that binds the
master key id, and records which KMS key did it:
``sealio-aws1:<key id>:<base64 ciphertext blob>``. ``unwrap_key`` checks that
key is enabled, then calls ``Decrypt`` naming that key id and the same
context. A bare key id resolves only in the configured account and region,
so a sealed file cannot send its keys to another KMS.

Rotation in AWS KMS differs from Vault: automatic or on-demand rotation
(``EnableKeyRotation``/``RotateKeyOnDemand``) adds backing material under
the *same* key id and AWS keeps every old version usable forever; nothing
can be disabled per version. To retire old material, create a new key, point
the alias at it (``UpdateAlias``), ``sealio rewrap`` the data, then
``DisableKey`` the old key: files not re-wrapped then fail with
:class:`~sealio.errors.KeyDisabledError`.

Configuration string: ``aws-kms://alias/NAME?region=R[&endpoint=URL]``
(also a key id or key ARN), options ``region``, ``endpoint``, ``profile``,
``timeout``, ``retries``. Credentials come from the standard AWS
environment variables, shared files or instance roles, never the string.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from sealio.errors import (IntegrityError, KeyDisabledError, KeyNotFoundError, KmsAuthError, KmsError,
                           SealioError)
from sealio.kms import _options
from sealio.kms._retry import RetryPolicy, Transient, call

__all__ = ["AwsKms", "from_uri"]

_WRAP_PREFIX = "sealio-aws1"
_CONTEXT_KEY = "sealio:master-key-id"
_ALIAS_RE = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_KEY_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key|alias)/[A-Za-z0-9/_-]{1,250}$")
_WRAPPED_RE = re.compile(r"^sealio-aws1:((?:[0-9a-f-]{36})|(?:mrk-[0-9a-f]{32})):([A-Za-z0-9+/]+={0,2})$")

_AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
               "ExpiredTokenException", "InvalidClientTokenId", "IncompleteSignature",
               "MissingAuthenticationToken", "SignatureDoesNotMatch"}
_TRANSIENT_CODES = {"ThrottlingException", "Throttling", "KMSInternalException", "DependencyTimeoutException",
                    "KeyUnavailableException", "ServiceUnavailable", "InternalFailure", "RequestTimeout",
                    "RequestTimeoutException", "TooManyRequestsException"}


class AwsKms:
    """A :class:`~sealio.keys.KmsClient` backed by AWS KMS (or a compatible endpoint).

    ``key_id`` is the default master key (``alias/NAME``, a key id or an
    ARN); headers may name other keys of the same account and region by
    alias or key id, never by ARN (except this one). Each call is bounded by
    ``policy`` (boto3's own retries are switched off so ours apply).
    """

    def __init__(self, key_id: str, *, region: str | None = None, endpoint_url: str | None = None,
                 profile: str | None = None, policy: RetryPolicy | None = None) -> None:
        try:
            import boto3  # lazily: sealio.kms must import without the aws extra
            import botocore.config
            import botocore.exceptions
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(f"AwsKms needs {e.name}, which is not installed: "
                                      "pip install 'sealio[aws]'", name=e.name) from None

        self.default = check_key_id(key_id, configured=None)
        self.policy = policy or RetryPolicy()
        if endpoint_url is not None:
            ep = urlsplit(endpoint_url)
            if ep.scheme not in ("http", "https") or not ep.hostname:
                raise KmsError(f"AWS KMS endpoint must be http(s)://HOST[:PORT], not {_options.redact(endpoint_url)}")
            _options.refuse_userinfo(endpoint_url, ep.netloc)
        self.endpoint_url = endpoint_url
        self._botocore = botocore
        try:
            region = region or os.environ.get("AWS_REGION") or None  # else AWS_DEFAULT_REGION, config files
            session = boto3.session.Session(profile_name=profile, region_name=region)
            config = botocore.config.Config(
                connect_timeout=self.policy.timeout, read_timeout=self.policy.timeout,
                retries={"total_max_attempts": 1, "mode": "standard"})
            self._client = session.client("kms", endpoint_url=endpoint_url, config=config)
        except botocore.exceptions.NoRegionError:
            raise KmsError("AWS KMS needs a region: add ?region=... to the configuration or set AWS_REGION") \
                from None
        except botocore.exceptions.ProfileNotFound as e:
            raise KmsAuthError(f"AWS profile not found: {e}") from None
        except (botocore.exceptions.InvalidRegionError, ValueError):  # botocore's own message echoes input
            raise KmsError("AWS KMS region or endpoint is not valid (see docs/KMS.md for the form)") from None
        self.region = self._client.meta.region_name
        self._lock = threading.Lock()

    # -- KmsClient

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        """KMS Encrypt under ``master_key_identifier`` (its current key material)."""
        mkid = check_key_id(master_key_identifier, configured=self.default)
        resp = self._call(f"wrap under AWS KMS key {mkid!r}", mkid, lambda: self._client.encrypt(
            KeyId=mkid, Plaintext=bytes(key_bytes), EncryptionContext={_CONTEXT_KEY: mkid}))
        key_id = _key_id_of(resp.get("KeyId", ""))
        blob = resp["CiphertextBlob"]
        return f"{_WRAP_PREFIX}:{key_id}:{base64.b64encode(blob).decode('ascii')}"

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        """KMS Decrypt with the key recorded in ``wrapped_key`` (in the configured
        account and region), after checking it is enabled."""
        mkid = check_key_id(master_key_identifier, configured=self.default)
        m = _WRAPPED_RE.match(wrapped_key) if isinstance(wrapped_key, str) else None
        if m is None:
            raise IntegrityError(f"wrapped key is not from sealio's AWS KMS client ({_WRAP_PREFIX}:...)")
        key_id = m.group(1)
        try:
            blob = base64.b64decode(m.group(2), validate=True)
        except binascii.Error:
            raise IntegrityError("wrapped key is malformed (bad base64)") from None
        what = f"unwrap with AWS KMS key {key_id} (master key {mkid!r})"
        state = self.key_state(key_id)
        if state != "Enabled":
            raise KeyDisabledError(f"{what}: the KMS key is {state}; files wrapped under it must be "
                                   "re-wrapped (`sealio rewrap`) before it is disabled")
        resp = self._call(what, mkid, lambda: self._client.decrypt(
            CiphertextBlob=blob, KeyId=key_id, EncryptionContext={_CONTEXT_KEY: mkid}))
        return bytes(resp["Plaintext"])

    # -- key information

    def key_state(self, key_id: str) -> str:
        """``Enabled``, ``Disabled``, ``PendingDeletion`` ... of a key (DescribeKey)."""
        key_id = check_key_id(key_id, configured=self.default)
        resp = self._call(f"describe AWS KMS key {key_id!r}", key_id,
                          lambda: self._client.describe_key(KeyId=key_id))
        return str(resp["KeyMetadata"].get("KeyState", "Unknown"))

    def check_key(self, name: str) -> None:
        """Fail early (KeyNotFoundError, KeyDisabledError, KmsAuthError ...) if ``name`` is unusable."""
        state = self.key_state(name)
        if state != "Enabled":
            raise KeyDisabledError(f"AWS KMS key {name!r} is {state}")

    # -- plumbing

    def _call(self, what: str, mkid: str, fn: Any) -> Any:
        return call(self.policy, what, fn, lambda e: self._translate(e, what, mkid))

    def _translate(self, e: BaseException, what: str, mkid: str) -> SealioError | Transient:
        exc = self._botocore.exceptions
        where = f"AWS KMS ({self.endpoint_url or self.region})"
        if isinstance(e, (exc.ConnectTimeoutError, exc.ReadTimeoutError)):
            return Transient(f"{where} did not answer within {self.policy.timeout:g}s")
        if isinstance(e, (exc.EndpointConnectionError, exc.ConnectionClosedError, exc.ConnectionError)):
            return Transient(f"cannot connect to {where}")
        if isinstance(e, (exc.NoCredentialsError, exc.PartialCredentialsError)):
            return KmsAuthError(f"{what}: no usable AWS credentials (set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role)")
        if isinstance(e, exc.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            msg = str(err.get("Message", "")).strip()[:300]
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            detail = f"{code}{': ' + msg if msg else ''}"
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                return Transient(f"{where} answered {detail or status}")
            if code in _AUTH_CODES or status in (401, 403):
                return KmsAuthError(f"{what}: {where} refused the credentials or their permissions ({detail})")
            if code == "NotFoundException":
                return KeyNotFoundError(f"{what}: {where} has no such key ({detail})")
            if code in ("DisabledException", "KMSInvalidStateException"):
                return KeyDisabledError(f"{what}: the key is disabled or not usable ({detail})")
            if code in ("InvalidCiphertextException", "IncorrectKeyException"):
                return IntegrityError(f"{what}: the wrapped key did not authenticate "
                                      "(tampered header or a different key)")
            return KmsError(f"{what}: {where} rejected the request ({detail or status})")
        if isinstance(e, (KeyError, TypeError, ValueError)):
            return KmsError(f"{what}: malformed response from {where}")
        if isinstance(e, SealioError):
            return e
        return KmsError(f"{what}: {type(e).__name__}")

    def __repr__(self) -> str:
        return f"AwsKms({self.default!r}, region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    def __reduce__(self) -> Any:
        raise TypeError("AwsKms holds a boto3 client and cannot be pickled; pickle "
                        "sealio.kms.KmsRef('aws-kms://...') instead")


def check_key_id(key_id: Any, *, configured: str | None) -> str:
    """A master key id as found in a header: an alias or a bare key id (both
    resolve in the configured account and region); an ARN only if it is the
    configured key, since an ARN could point at another account or region."""
    if isinstance(key_id, str) and (_ALIAS_RE.match(key_id) or _KEY_ID_RE.match(key_id)):
        return key_id
    if isinstance(key_id, str) and _ARN_RE.match(key_id) and (configured is None or key_id == configured):
        return key_id
    raise KmsError(f"master key id {key_id!r} is not an AWS KMS alias (alias/NAME) or key id "
                   "of the configured account and region")


def _key_id_of(arn_or_id: str) -> str:
    key_id = arn_or_id.rpartition(":key/")[2] if ":key/" in arn_or_id else arn_or_id
    if not _KEY_ID_RE.match(key_id):
        raise KmsError("AWS KMS Encrypt returned no usable key id")
    return key_id


_URI_OPTIONS = {"region", "endpoint", "profile", "timeout", "retries"}


def from_uri(uri: str) -> AwsKms:
    """``aws-kms://alias/NAME?region=R[&endpoint=URL&profile=P&timeout=S&retries=N]``."""
    _options.check_config(uri)
    body = uri.split("://", 1)[1]
    key_part, _, query = body.partition("?")
    if "#" in query or "#" in key_part:
        raise KmsError(f"unexpected '#' in KMS configuration {_options.redact(uri)}")
    _options.refuse_userinfo(uri, key_part.split("/", 1)[0])
    opts = _options.options(uri, query, _URI_OPTIONS)
    key_id = unquote(key_part)
    if not key_id:
        raise KmsError("an AWS KMS is configured as aws-kms://alias/NAME?region=..., with a key")
    return AwsKms(key_id, region=opts.get("region") or None, endpoint_url=opts.get("endpoint") or None,
                  profile=opts.get("profile") or None, policy=_options.retry_policy(uri, opts))
