"""What a wrapped KEK tells about its master key without asking the KMS.

Each client records in the text it returns which key material wrapped it:
the keyring (``sealio-lk1:V:...``) and Vault/OpenBao Transit
(``vault:vN:...``) the master key's version, AWS KMS (``sealio-aws1:ID:...``)
the KMS key id behind an alias. ``sealio inspect`` shows it, so a rewrap
after a rotation can be confirmed from the header alone. The text is public
header data (docs/FORMAT.md); nothing here is authenticated.
"""

from __future__ import annotations

import re
from typing import Any

from sealio.kms._keyfile import _WRAP_PREFIX as _LOCAL_PREFIX

_LOCAL_RE = re.compile(rf"^{re.escape(_LOCAL_PREFIX)}:([1-9][0-9]{{0,9}}):")
_VAULT_RE = re.compile(r"^vault:v([1-9][0-9]{0,9}):")
_AWS_RE = re.compile(r"^sealio-aws1:((?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                     r"|(?:mrk-[0-9a-f]{32})):")


def describe(wrapped: str) -> dict[str, Any]:
    """``{"kms": ..., "master_key_version": N}`` for the keyring and Vault,
    ``{"kms": "AWS KMS", "kms_key_id": ID}`` for AWS, ``{}`` for a format
    not recognised (another client's; nothing is guessed)."""
    if m := _LOCAL_RE.match(wrapped):
        return {"kms": "local keyring", "master_key_version": int(m.group(1))}
    if m := _VAULT_RE.match(wrapped):
        return {"kms": "Vault Transit", "master_key_version": int(m.group(1))}
    if m := _AWS_RE.match(wrapped):
        return {"kms": "AWS KMS", "kms_key_id": m.group(1)}
    return {}


__all__ = ["describe"]
