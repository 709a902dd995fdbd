import base64
import logging

import pytest
from django.test import override_settings

from households import pii
from households.pii import PiiDecryptError

ID = "630121198710020016"


def test_round_trip_and_every_ciphertext_differs():
    first = pii.encrypt(ID, field="id_number")
    second = pii.encrypt(ID, field="id_number")
    assert first != second
    assert ID not in first
    assert pii.decrypt(first, field="id_number") == ID


def test_a_ciphertext_moved_to_another_column_does_not_decrypt():
    token = pii.encrypt("13800138000", field="phone")
    with pytest.raises(PiiDecryptError):
        pii.decrypt(token, field="id_number")


def test_a_tampered_ciphertext_is_refused():
    raw = bytearray(base64.urlsafe_b64decode(pii.encrypt(ID, field="id_number")))
    raw[-1] ^= 1
    with pytest.raises(PiiDecryptError):
        pii.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode(), field="id_number")


def test_old_keys_still_decrypt_after_rotation(settings):
    old_key = settings.PII_ENCRYPTION_KEYS[0]
    token = pii.encrypt(ID, field="id_number")
    with override_settings(PII_ENCRYPTION_KEYS=[b"N" * 32, old_key]):
        assert pii.decrypt(token, field="id_number") == ID
        fresh = pii.encrypt(ID, field="id_number")
    with override_settings(PII_ENCRYPTION_KEYS=[old_key]), pytest.raises(PiiDecryptError):
        pii.decrypt(fresh, field="id_number")


def test_lookup_hash_is_keyed_and_separates_fields(settings):
    assert pii.id_number_hash(ID) == pii.id_number_hash(ID)
    assert pii.id_number_hash(ID) != pii.lookup_hash(ID, field="phone")
    with override_settings(PII_HMAC_KEY=b"K" * 32):
        keyed_differently = pii.id_number_hash(ID)
    assert keyed_differently != pii.id_number_hash(ID)
    import hashlib

    assert pii.id_number_hash(ID) != hashlib.sha256(ID.encode()).hexdigest()


def test_the_bulk_hasher_gives_the_lookup_hash():
    hash_id = pii.lookup_hasher("id_number")
    for value in (ID, "63012119781009646X", "", "身份证"):
        assert hash_id(value) == pii.id_number_hash(value)
    assert pii.lookup_hasher("phone")("15600004775") == pii.phone_hash("15600004775")
    # Keys of every length HMAC allows: shorter than a block is padded, longer is hashed.
    for key in (b"k", b"K" * 64, b"L" * 65, bytes(range(200))):
        with override_settings(PII_HMAC_KEY=key):
            assert pii.lookup_hasher("id_number")(ID) == pii.id_number_hash(ID)


def test_log_lines_never_carry_a_full_id_or_phone_number(caplog):
    logger = logging.getLogger("tests.pii")
    logger.addFilter(pii.MaskPiiLogFilter())
    with caplog.at_level(logging.INFO, logger="tests.pii"):
        logger.info(
            "matched %s phone %s legacy %s amount 12345.50", ID, "13912345678", "630121871002001"
        )
    message = caplog.records[0].getMessage()
    assert ID not in message and "13912345678" not in message
    assert "630121********0016" in message and "139****5678" in message
    assert "12345.50" in message


def test_the_configured_log_filter_is_on_the_console_handler():
    from django.conf import settings

    assert "mask_pii" in settings.LOGGING["handlers"]["console"]["filters"]
