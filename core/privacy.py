"""Pseudonymous conversation ids and encryption at rest.

Rasa, the logs and every table but `contacts` see only the pseudonymous id; a platform address
(phone number, chat id, socket session) exists only encrypted, to deliver replies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def keyed_hash(key: bytes, value: str) -> str:
    """What stands for `value` where it must not be kept itself (an address, a platform id):
    32 hex characters of HMAC-SHA256, the same for the same key and value, useless without the key."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def conversation_id(secret: bytes, channel: str, user: str) -> str:
    """The stable pseudonym of one person on one channel: HMAC(secret, channel:user)."""
    return keyed_hash(secret, f"{channel}:{user}")


class Cipher:
    """Symmetric authenticated encryption (Fernet) of texts and addresses stored at rest.

    `keys` may hold several keys, comma-separated (`MAAK_DATA_KEY`): the first encrypts, every
    one decrypts — so a new key can be put first, what is stored re-encrypted (`rotate`), and the
    old key dropped.
    """

    def __init__(self, keys: bytes) -> None:
        # Any operator-supplied string becomes a valid Fernet key; the same string, the same key.
        fernets = [Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.strip()).digest()))
                   for key in keys.split(b",") if key.strip()]
        if not fernets:
            raise ValueError("MAAK_DATA_KEY holds no key")
        self._first = fernets[0]
        self._fernet = MultiFernet(fernets)

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored text cannot be decrypted with the current MAAK_DATA_KEY") from exc

    def rotate(self, token: str) -> str | None:
        """`token` encrypted with the first key, or None when it already is.

        Raises:
            ValueError: no key of `MAAK_DATA_KEY` decrypts it.
        """
        try:
            self._first.decrypt(token.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored text cannot be decrypted with the current MAAK_DATA_KEY") from exc
