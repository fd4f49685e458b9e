"""XML namespaces of OpenADR 2.0b and the prefixes fleetven writes them with."""

from __future__ import annotations

__all__ = ("NS", "PREFIXES")

OADR = "http://openadr.org/oadr-2.0b/2012/07"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
POWER = "http://docs.oasis-open.org/ns/emix/2011/06/power"
SCALE = "http://docs.oasis-open.org/ns/emix/2011/06/siscale"
GML = "http://www.opengis.net/gml/3.2"
ATOM = "http://www.w3.org/2005/Atom"
DS = "http://www.w3.org/2000/09/xmldsig#"
DSP = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"

#: Namespace URI by the prefix fleetven uses for it.
NS: dict[str, str] = {
    "oadr": OADR,
    "ei": EI,
    "pyld": PYLD,
    "emix": EMIX,
    "xcal": XCAL,
    "strm": STRM,
    "power": POWER,
    "scale": SCALE,
    "gml": GML,
    "atom": ATOM,
    "ds": DS,
    "dsp": DSP,
}

#: Prefix by namespace URI.
PREFIXES: dict[str, str] = {uri: prefix for prefix, uri in NS.items()}
