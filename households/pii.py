"""Protection of personal numbers at rest (等保 level 3: important personal data encrypted).

ID numbers and phone numbers are stored three ways, never in plain text:
- a ciphertext (AES-256-GCM; the column name is bound in as associated data so a value
  cannot be moved to another column and still decrypt);
- a keyed hash (HMAC-SHA256) for exact lookup, de-duplication and set-based matching of
  department lists — equal numbers give equal hashes, but a dump without the key reveals
  nothing and cannot be brute-forced from the small ID space;
- a masked form for lists (630121********0016, 156****4775).

Key rotation: PII_ENCRYPTION_KEYS holds several keys; the first encrypts, any decrypts (each
token names its key by a 4-byte fingerprint). The HMAC key cannot rotate without rehashing,
which `manage.py` can do set-wise when needed.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from households.idnumber import mask_id_number, mask_phone

_VERSION = b"\x01"


class PiiDecryptError(Exception):
    """A stored ciphertext could not be decrypted (wrong key or tampered data)."""


@lru_cache(maxsize=8)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def _fingerprint(key: bytes) -> bytes:
    return hashlib.sha256(b"pii-key-id:" + key).digest()[:4]


def encrypt(value: str, *, field: str) -> str:
    key = settings.PII_ENCRYPTION_KEYS[0]
    nonce = os.urandom(12)
    sealed = _cipher(key).encrypt(nonce, value.encode("utf-8"), field.encode("ascii"))
    return base64.urlsafe_b64encode(_VERSION + _fingerprint(key) + nonce + sealed).decode("ascii")


def encrypt_many(values: list[str], *, field: str) -> list[str]:
    """[encrypt(value, field=field) for value in values], for a registry of millions: the
    nonces come from one call to the system's random source instead of one per value."""
    key = settings.PII_ENCRYPTION_KEYS[0]
    seal = _cipher(key).encrypt
    head = _VERSION + _fingerprint(key)
    data = field.encode("ascii")
    nonces = os.urandom(12 * len(values))
    encode = base64.urlsafe_b64encode
    tokens = []
    for offset, value in zip(range(0, len(nonces), 12), values, strict=True):
        nonce = nonces[offset : offset + 12]
        tokens.append(encode(head + nonce + seal(nonce, value.encode("utf-8"), data)).decode())
    return tokens


def decrypt(token: str, *, field: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise PiiDecryptError("not a PII token") from None
    if raw[:1] != _VERSION or len(raw) < 1 + 4 + 12 + 16:
        raise PiiDecryptError("unknown PII token version")
    key_id, nonce, sealed = raw[1:5], raw[5:17], raw[17:]
    for key in settings.PII_ENCRYPTION_KEYS:
        if hmac.compare_digest(_fingerprint(key), key_id):
            try:
                return _cipher(key).decrypt(nonce, sealed, field.encode("ascii")).decode("utf-8")
            except InvalidTag:
                raise PiiDecryptError("PII token failed authentication") from None
    raise PiiDecryptError("no configured key matches this PII token")


def encrypt_bytes(data: bytes, *, field: str) -> bytes:
    """Raw bytes version of `encrypt`, for uploaded files kept as received."""
    key = settings.PII_ENCRYPTION_KEYS[0]
    nonce = os.urandom(12)
    return (
        _VERSION
        + _fingerprint(key)
        + nonce
        + _cipher(key).encrypt(nonce, data, field.encode("ascii"))
    )


def decrypt_bytes(sealed: bytes, *, field: str) -> bytes:
    raw = bytes(sealed)
    if raw[:1] != _VERSION or len(raw) < 1 + 4 + 12 + 16:
        raise PiiDecryptError("unknown PII blob version")
    for key in settings.PII_ENCRYPTION_KEYS:
        if hmac.compare_digest(_fingerprint(key), raw[1:5]):
            try:
                return _cipher(key).decrypt(raw[5:17], raw[17:], field.encode("ascii"))
            except InvalidTag:
                raise PiiDecryptError("PII blob failed authentication") from None
    raise PiiDecryptError("no configured key matches this PII blob")


def lookup_hash(value: str, *, field: str) -> str:
    """Hex HMAC of a normalised value; `field` separates the ID and phone hash spaces."""
    message = field.encode("ascii") + b":" + value.encode("utf-8")
    # hmac.digest is the one-shot C path: it matters on lists of a million rows.
    return hmac.digest(settings.PII_HMAC_KEY, message, "sha256").hex()


def lookup_hasher(field: str):
    """lookup_hash(value, field=field) for a long run of values (RFC 2104 spelled out): the
    padded key and the field prefix are absorbed once into an inner and an outer SHA-256
    state, and each value continues from copies of those. hmac.HMAC's own copy() and
    hexdigest() are Python methods; these are C calls, a third of the cost per value on a
    list of a million rows."""
    key = settings.PII_HMAC_KEY
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_INNER_PAD))
    inner.update(field.encode("ascii") + b":")
    outer = hashlib.sha256(key.translate(_OUTER_PAD))
    inner_copy, outer_copy = inner.copy, outer.copy

    def hash_value(value: str) -> str:
        state = inner_copy()
        state.update(value.encode("utf-8"))
        finish = outer_copy()
        finish.update(state.digest())
        return finish.hexdigest()

    return hash_value


_SHA256_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def id_number_hash(normalised_id: str) -> str:
    return lookup_hash(normalised_id, field="id_number")


def phone_hash(normalised_phone: str) -> str:
    return lookup_hash(normalised_phone, field="phone")


def protect_id_number(normalised_id: str) -> dict[str, str]:
    """Column values for a member's ID number."""
    return {
        "id_number_encrypted": encrypt(normalised_id, field="id_number"),
        "id_number_hash": id_number_hash(normalised_id),
        "id_number_masked": mask_id_number(normalised_id),
    }


def protect_phone(normalised_phone: str) -> dict[str, str]:
    if not normalised_phone:
        return {"phone_encrypted": "", "phone_hash": "", "phone_masked": ""}
    return {
        "phone_encrypted": encrypt(normalised_phone, field="phone"),
        "phone_hash": phone_hash(normalised_phone),
        "phone_masked": mask_phone(normalised_phone),
    }


# 18-digit IDs (last may be X), legacy 15-digit IDs and mainland mobile numbers. Digit runs
# are matched whole so an amount or a region code is not touched.
_PII_IN_TEXT = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15}|1[3-9][0-9]{9})(?![0-9Xx])")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９ＸｘＸ", "0123456789XxX")


def mask_pii_in_text(text: str) -> str:
    def _mask(match: re.Match) -> str:
        digits = match.group(0)
        if len(digits) == 11:
            return mask_phone(digits)
        return mask_id_number(digits)

    # Full-width digits are folded first, or "６３０１２１…" would slip through.
    return _PII_IN_TEXT.sub(_mask, text.translate(_FULL_WIDTH_DIGITS))


# Log lines are judged more narrowly than stored free text: a log is read by operators, and
# masking every long digit run there hid Celery's timings ("succeeded in 0.0123456789012s"),
# counts and timestamps. Only what has the shape of a personal number is masked:
# - an 18-character ID: a region code (first digit 1-8), a birth date that can exist
#   (19xx or 20xx, month 01-12, day 01-31), 3 digits and a digit or X;
# - a legacy 15-digit ID: region, YYMMDD likewise plausible, 3 digits;
# - a mobile number, 1[3-9] and 9 more digits (optionally +86 and written 3-4-4);
# - a landline with its area code, as the registry stores them (0 + 2-3 digits, then 7-8
#   digits not starting with 0 or 1). A bare 7-8 digit local number is not told apart from a
#   count, and is left alone.
# Never part of a longer word or number: not next to another ASCII letter or digit (a task's
# hexadecimal id), and not either side of a decimal point (a timing, an amount).
_LOG_BIRTH_8 = r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_LOG_BIRTH_6 = r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_LOG_PII = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9]\.)(?:"
    rf"(?P<id>[1-8][0-9]{{5}}(?:{_LOG_BIRTH_8}[0-9]{{3}}[0-9Xx]|{_LOG_BIRTH_6}[0-9]{{3}}))"
    r"|(?P<mobile>(?:\+?86[ -]?)?1[3-9][0-9](?P<sep>[ -]?)[0-9]{4}(?P=sep)[0-9]{4})"
    r"|(?P<landline>0[1-9][0-9]{1,2}[ -]?[2-9][0-9]{6,7})"
    r")(?![0-9A-Za-z])(?!\.[0-9])"
)


def _mask_log_match(match: re.Match) -> str:
    if match.group("id"):
        return mask_id_number(match.group("id"))
    digits = re.sub(r"[^0-9]", "", match.group(0))
    if match.group("mobile"):
        return mask_phone(digits[-11:])
    return mask_phone(digits)


def mask_pii_in_log(text: str) -> str:
    """`text` with every ID-shaped and phone-shaped run masked, and nothing else touched."""
    folded = text.translate(_FULL_WIDTH_DIGITS)
    masked = _LOG_PII.sub(_mask_log_match, folded)
    # Full-width digits are folded only to be seen: a line without a number stays as it was.
    return text if masked == folded else masked


class MaskPiiLogFilter(logging.Filter):
    """Rewrites every log record so no ID or phone number is written in plain text: the
    message, and the traceback of a logged exception (whose message may quote the value that
    failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = mask_pii_in_log(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            # The formatter keeps a traceback already formatted in exc_text: format it here,
            # masked, so the plain one is never made.
            record.exc_text = mask_pii_in_log(_TRACEBACKS.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_pii_in_log(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii_in_log(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()
