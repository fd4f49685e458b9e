"""Re-signing an edited signed document with a trusted key, for the signature tests.

:func:`resign` ``(root, signing_key)`` re-computes, in an edited signed document, every ``ds:Reference``
digest (inclusive C14N of the element with that id, by fleetven's pure c14n) and the SignatureValue, with a
trusted key: it makes "validly signed" forgeries, so that a test shows a structure is refused for what it
is, not merely because its signature broke. Returns the document bytes.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from lxml import etree

from fleetven._fast._sig_py import c14n
from fleetven.signing import SigningKey

__all__ = ("resign",)

_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
            "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
            "http://www.w3.org/2001/04/xmlenc#sha512": "sha512"}


def resign(root: Any, signing_key: SigningKey) -> bytes:
    """Re-digest every reference and re-sign the first ``ds:Signature`` of ``root``; see the module docstring.

    References whose URI is not ``#id`` of an existing element, or whose DigestMethod is unknown, keep
    their digest.
    """
    by_id: dict[str, Any] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            for k, v in el.attrib.items():
                if k.rpartition("}")[2] in ("Id", "ID", "id"):
                    by_id.setdefault(v, el)
    sig = next(root.iter(_DS + "Signature"))
    signed_info = sig.find(_DS + "SignedInfo")
    for ref in signed_info.iter(_DS + "Reference"):
        uri = ref.get("URI") or ""
        method = ref.find(_DS + "DigestMethod")
        value = ref.find(_DS + "DigestValue")
        target = by_id.get(uri[1:]) if uri.startswith("#") else None
        if target is None or method is None or value is None or method.get("Algorithm") not in _DIGESTS:
            continue
        value.text = base64.b64encode(hashlib.new(_DIGESTS[method.get("Algorithm")], c14n(target)).digest()).decode()
    sig.find(_DS + "SignatureValue").text = base64.b64encode(signing_key.sign(c14n(signed_info))).decode()
    out: bytes = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    return out
