"""Bearer tokens: random, shown once, stored only as a SHA-256 digest.

The tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching):
what matters is that a database leak gives no usable token.

A presented token is found by looking its digest up, never by comparing it with stored
tokens: the lookup's timing can tell at most how a digest sorts among the others, and
nobody can steer a digest's bytes without inverting SHA-256, so there is nothing to learn
from it byte by byte (the constant-time property a direct comparison would need).
"""

import hashlib
import secrets

KIOSK_PREFIX = "cxk_"
PERSONAL_PREFIX = "cxp_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_pairing_code() -> str:
    """Eight digits: easy to type on a tablet, short-lived and single-use."""
    return f"{secrets.randbelow(10**8):08d}"
