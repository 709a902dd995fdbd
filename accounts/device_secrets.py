"""The secrets of the second factor's authenticator apps, encrypted at rest (等保 level 3:
authentication data is stored confidentially).

django-otp keeps a device's TOTP secret as hex in otp_totp_totpdevice.key: whoever reads
that table (a dump, a backup, a replica) could compute every county approver's and
administrator's codes. The column holds instead an AES-GCM token made with the keys of the
personal numbers (households/pii.py: PII_ENCRYPTION_KEYS, from the environment, never in the
database or a backup, rotated the same way). The token is bound to the device's user as
associated data, so a sealed secret copied into another person's device row does not open.

A sealed value starts with "enc:" (never a hex digit); a hex value is a secret not sealed
yet (a device made and not saved). The column holds 80 characters: room for secrets of up to
24 bytes sealed (django-otp makes 20)."""

import base64
from binascii import unhexlify

from households import pii

PREFIX = "enc:"
MAX_SECRET_BYTES = 24


class DeviceSecretError(ValueError):
    """A secret that cannot be sealed (too long for the column) or opened."""


def _associated(user_id) -> str:
    return f"totp_key:{user_id}"


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal(hex_key: str, user_id) -> str:
    """The column value for a hex secret of this user's device."""
    secret = unhexlify(hex_key.encode("ascii"))
    if len(secret) > MAX_SECRET_BYTES:
        raise DeviceSecretError(
            f"a TOTP secret of {len(secret)} bytes does not fit the column sealed"
        )
    sealed = pii.encrypt_bytes(secret, field=_associated(user_id))
    return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")


def open_secret(token: str, user_id) -> bytes:
    """The binary secret of a sealed column value."""
    try:
        sealed = base64.urlsafe_b64decode(token.removeprefix(PREFIX).encode("ascii"))
        return pii.decrypt_bytes(sealed, field=_associated(user_id))
    except (ValueError, UnicodeEncodeError, pii.PiiDecryptError) as exc:
        raise DeviceSecretError("the TOTP secret does not open with the configured keys") from exc


def binary_secret(value: str, user_id) -> bytes:
    """The secret of a column value, sealed or (not saved yet) hex."""
    if is_sealed(value):
        return open_secret(value, user_id)
    return unhexlify(value.encode("ascii"))


def unseal_to_hex(value: str, user_id) -> str:
    """The hex form django-otp's own model reads (the migration's way back)."""
    return binary_secret(value, user_id).hex()
