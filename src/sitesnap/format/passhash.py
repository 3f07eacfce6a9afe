"""Password hashes for console and API users: Argon2id through argon2-cffi.

The hash string carries its own parameters, so they can be raised later and
old hashes still verify (``check_needs_rehash``).  The catalog takes the
hasher from here so that, within sitesnap, only ``sitesnap.format`` imports
the crypto libraries.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["InvalidHashError", "PasswordHasher", "VerificationError", "VerifyMismatchError"]
