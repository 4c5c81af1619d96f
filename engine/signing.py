"""An instance's signature: the lower-case hex HMAC-SHA256 of its id under the engine's instance secret.

The value of ``Blockprov-Instance-Id-Signature`` and an instance's event-channel secret (a leaf).
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: bytes, instance_id: str) -> str:
    return hmac.new(secret, instance_id.encode(), hashlib.sha256).hexdigest()
