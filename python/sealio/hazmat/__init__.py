"""The hazmat layer: AES-GCM and AES-CBC on the C core, checked at the door.

Layer 0 of the package (nothing here imports a higher layer). The public
API is :mod:`sealio.hazmat.primitives`, re-exported here and, as the
documented path, by :mod:`sealio.primitives`; ``kernel`` picks the
implementation, ``native`` and ``fallback`` are the two backends,
``buffers`` the argument and overlap checks, ``segments`` the STREAM
segment arithmetic. Prefer the sealed format (``sealio.open``) for data.
"""

from __future__ import annotations

from sealio.hazmat.primitives import (
    GCM_MAX_BYTES,
    GCM_NONCE_SIZE,
    GCM_TAG_SIZE,
    STREAM_PREFIX_SIZE,
    AesCbc,
    AesGcm,
    aes_cbc_decrypt,
    aes_cbc_decrypt_into,
    aes_cbc_encrypt,
    aes_cbc_encrypt_into,
    aes_cbc_encrypt_many,
    aes_cbc_encrypt_many_into,
    aes_gcm_decrypt,
    aes_gcm_decrypt_into,
    aes_gcm_encrypt,
    aes_gcm_encrypt_into,
    cpu_features,
    sealed_segments_size,
)
from sealio.hazmat.primitives import __all__ as __all__  # noqa: F401  (one list of public names)
