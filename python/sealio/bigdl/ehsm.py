"""The eHSM key source of the BigDL formats: :class:`sealio.kms.ehsm.EhsmClient`
(the REST protocol, moved to the KMS layer in issue 11) giving data keys
as :class:`~sealio.bigdl.keys.DataKey`, like the other BigDL key sources."""

from __future__ import annotations

from sealio.bigdl.keys import DataKey
from sealio.kms.ehsm import BIGDL_AAD, EhsmClient, sign

__all__ = ["BIGDL_AAD", "Ehsm", "sign"]


class Ehsm(EhsmClient):
    """eHSM key source: ``decrypt_data_key``/``new_data_key`` as the other
    BigDL key sources. Data keys are base64 of 32 bytes; their text's
    [16:32] slice is the AES key: about 96 bits."""

    ENTROPY = 96

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        return DataKey(self.decrypt(encrypted), self.ENTROPY)

    def new_data_key(self) -> tuple[str, DataKey]:
        encrypted = self.generate_data_key()
        return encrypted, self.decrypt_data_key(encrypted)
