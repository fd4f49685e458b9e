"""Hostile and broken input: each case raises its specific MessageError subclass, saying what was wrong.

Nothing here may fetch from the network or read a file, grow without bound or
crash the interpreter.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven.exceptions import (
    InvalidMessage,
    InvalidValue,
    MalformedXML,
    MessageError,
    MessageTooLarge,
    UnknownMessage,
    UnsafeXML,
)
from fleetven.messages import parse as parse_mod
from fleetven.messages.parse import DEFAULT_MAX_SIZE, parse_document, parse_message
from fleetven.openadr import model as m
from fleetven.openadr.namespaces import NS

NSDECL = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
POLL = "<oadr:oadrPoll><ei:venID>ven-1</ei:venID></oadr:oadrPoll>"


def payload(body: str, *, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n', extra_ns: str = "") -> bytes:
    return (
        f"{head}<oadr:oadrPayload {NSDECL} {extra_ns}><oadr:oadrSignedObject>{body}</oadr:oadrSignedObject>"
        "</oadr:oadrPayload>"
    ).encode()


def full(extract_impl: Any, data: bytes | str, **kw: Any) -> Any:
    return extract_impl(parse_document(data, **kw))


class _Server:
    """A local HTTP server that counts the requests it gets (none are expected)."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b'<!ENTITY y "FETCHED">'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.hits = hits
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.close()


# ------------------------------------------------------------------ DTDs and entities


XXE_FILE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE oadrPayload [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<oadrPayload xmlns="http://openadr.org/oadr-2.0b/2012/07"><oadrSignedObject><oadrPoll>'
    b'<venID xmlns="http://docs.oasis-open.org/ns/energyinterop/201110">&xxe;</venID>'
    b"</oadrPoll></oadrSignedObject></oadrPayload>"
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%s;" % (str(i - 1).encode() if i > 1 else b"")) * 10)
        for i in range(1, 10)
    )
    + b']>\n<lolz>&lol9;</lolz>'
)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'<!DOCTYPE oadrPayload><oadrPayload xmlns="http://openadr.org/oadr-2.0b/2012/07"/>', "DTD"),
        (b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd"><a/>', "DTD"),
        (b'<!DOCTYPE a [<!ENTITY e "internal">]><a>&e;</a>', "DTD"),
        (XXE_FILE, "DTD"),
        (XXE_FILE.replace(b"file:///etc/passwd", b"http://127.0.0.1:9/secret"), "DTD"),
        (b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>', "DTD"),
        (BILLION_LAUGHS, "DTD"),
        # an entity declaration without a DOCTYPE is not well-formed, but is refused before lxml sees it
        (b'<a><!ENTITY e "x"></a>', "entity declaration"),
        (payload(POLL).replace(b"<oadr:oadrSignedObject>", b'<!ENTITY x "y"><oadr:oadrSignedObject>'),
         "entity declaration"),
    ],
    ids=["doctype", "external-dtd", "internal-entity", "xxe-file", "xxe-http", "parameter-entity", "billion-laughs",
         "bare-entity", "entity-in-payload"],
)
def test_dtd_and_entities_refused(data: bytes, words: str) -> None:
    with pytest.raises(UnsafeXML, match=words):
        parse_document(data)
    with pytest.raises(UnsafeXML, match=words):
        parse_message(data.decode())


def test_billion_laughs_in_a_subprocess() -> None:
    """Even if the refusal failed, the interpreter must survive (lxml + schema segfaults on this)."""
    code = textwrap.dedent(
        f"""
        import sys
        from fleetven.exceptions import UnsafeXML
        from fleetven.messages.parse import parse_message
        try:
            parse_message({BILLION_LAUGHS!r})
        except UnsafeXML as exc:
            print("refused:", exc)
            sys.exit(0)
        sys.exit(3)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "refused: refused a document with a DTD" in proc.stdout


def test_hardened_parser_alone_reads_no_file_and_expands_nothing() -> None:
    """Defence in depth: were the byte check bypassed, the parser still neither expands nor reads."""
    root = etree.fromstring(XXE_FILE, parse_mod._parser())
    text = etree.tostring(root)
    assert b"root:" not in text
    assert b"&xxe;" in text  # left as an unexpanded reference
    # ... and the tree check after parsing catches what the byte check would have
    assert root.getroottree().docinfo.internalDTD is not None


def test_hardened_parser_loads_no_external_dtd(tmp_path: Any, server: _Server) -> None:
    """lxml 6.1.3 opens an external DTD even with load_dtd=False; our resolver answers every such
    request with an empty document before libxml2's own loader runs (which would read a file, and
    fails loudly on a network URL)."""
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY y "SECRET-FROM-DISK">')
    for url in (dtd.as_uri(), f"{server.url}/evil.dtd"):
        doc = f'<!DOCTYPE a SYSTEM "{url}"><a>&y;</a>'.encode()
        root = etree.fromstring(doc, parse_mod._parser())  # no "failed to load external entity"
        assert b"SECRET" not in etree.tostring(root)
        external = root.getroottree().docinfo.externalDTD
        assert external is not None and list(external.iterentities()) == []
        with pytest.raises(UnsafeXML):
            parse_document(doc)
    assert server.hits == []


def test_hardened_parser_fetches_nothing(server: _Server) -> None:
    doc = f'<!DOCTYPE a SYSTEM "{server.url}/x.dtd"><a>&y;</a>'.encode()
    try:
        root = etree.fromstring(doc, parse_mod._parser())
    except etree.XMLSyntaxError:
        pass
    else:
        assert b"FETCHED" not in etree.tostring(root)
    doc = f'<!DOCTYPE a [<!ENTITY z SYSTEM "{server.url}/z">]><a>&z;</a>'.encode()
    root = etree.fromstring(doc, parse_mod._parser())
    assert b"FETCHED" not in etree.tostring(root)
    assert server.hits == []


def test_external_references_not_fetched(server: _Server, extract_impl: Any) -> None:
    xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xi="http://www.w3.org/2001/XInclude"'
    body = (
        f'<oadr:oadrPoll><xi:include href="{server.url}/include.xml"/><xi:include href="file:///etc/passwd" '
        f'parse="text"/><ei:venID>ven-1</ei:venID></oadr:oadrPoll>'
    )
    data = payload(body, extra_ns=f'{xsi} xsi:schemaLocation="{NS["oadr"]} {server.url}/oadr_20b.xsd"')
    msg = full(extract_impl, data)
    assert msg.ven_id == "ven-1"
    assert server.hits == []


def test_xinclude_as_the_message(extract_impl: Any) -> None:
    data = payload('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>')
    with pytest.raises(UnknownMessage, match=r"unknown message element \{http://www.w3.org/2001/XInclude\}include"):
        full(extract_impl, data)


# ------------------------------------------------------------------ not XML, wrong encoding


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02\xff\xfe\xfd" * 10,
        b"hello, world",
        b'{"oadrPoll": {"venID": "x"}}',
        b"<",
        b"<oadr:oadrPayload",
        payload(POLL)[:-20],
        payload(POLL).replace(b"</oadr:oadrPoll>", b""),
        payload(POLL) + b"<second/>",
        b'<?xml version="1.0"?><a>\xc3\x28</a>',  # invalid UTF-8
        b"<a>&undefined;</a>",
        b"<a b='1' b='2'/>",
    ],
    ids=["binary", "text", "json", "lt", "unclosed-tag", "truncated", "unbalanced", "two-roots", "bad-utf8",
         "undefined-entity", "duplicate-attribute"],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedXML, match=r"malformed XML at line \d+, column \d+") as info:
        parse_document(data)
    assert info.value.line >= 1


@pytest.mark.parametrize("data", [b"", b"   \n\t ", ""])
def test_empty_body(data: bytes | str) -> None:
    with pytest.raises(MalformedXML, match="empty message body"):
        parse_document(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (payload(POLL, head="").decode().encode("utf-16"), "UTF-16"),
        (payload(POLL, head="").decode().encode("utf-16-be"), "UTF-16 document (detected"),
        (payload(POLL, head="").decode().encode("utf-16-le"), "UTF-16 document (detected"),
        (payload(POLL).decode().encode("utf-32-le"), "UTF-32 document (detected"),
        (payload(POLL).decode().encode("cp500"), "EBCDIC"),
        (payload(POLL, head="").decode().encode("utf-32"), "UTF-32"),
        (b"\xfe\xff" + payload(POLL, head="").decode().encode("utf-16-be"), "UTF-16"),
        (payload(POLL, head='<?xml version="1.0" encoding="UTF-16"?>'), "'UTF-16'"),
        (payload(POLL, head='<?xml version="1.0" encoding="ISO-8859-1"?>'), "'ISO-8859-1'"),
        (payload(POLL, head="<?xml version='1.0' encoding='utf-7'?>"), "'utf-7'"),
        (payload(POLL, head='<?xml version="1.0" encoding="EBCDIC-US"?>'), "'EBCDIC-US'"),
        (b"\xef\xbb\xbf" + payload(POLL, head='<?xml version="1.0" encoding="latin1"?>'), "'latin1'"),
    ],
    ids=["utf16-bom", "utf16-be", "utf16-le", "utf32-le", "ebcdic", "utf32", "utf16-be-bom", "decl-utf16",
         "decl-latin1", "decl-utf7", "decl-ebcdic", "bom-then-latin1"],
)
def test_other_encodings_refused(data: bytes, words: str) -> None:
    with pytest.raises(UnsafeXML, match="only UTF-8") as info:
        parse_document(data)
    assert words in str(info.value)


@pytest.mark.parametrize("value", [None, 42, 1.5, ["<a/>"], {"a": 1}, object()])
def test_wrong_type(value: Any) -> None:
    with pytest.raises(MessageError, match="message must be bytes or str") as info:
        parse_document(value)
    assert type(info.value) is MessageError


def test_unencodable_str() -> None:
    with pytest.raises(MalformedXML, match="cannot be encoded as UTF-8"):
        parse_document("<a>\ud800</a>")


# ------------------------------------------------------------------ size and shape limits


def test_default_limit() -> None:
    assert DEFAULT_MAX_SIZE == 2 * 1024 * 1024
    big = payload(f"<oadr:oadrPoll><ei:venID>{'x' * DEFAULT_MAX_SIZE}</ei:venID></oadr:oadrPoll>")
    with pytest.raises(MessageTooLarge) as info:
        parse_document(big)
    assert info.value.size == len(big) and info.value.limit == DEFAULT_MAX_SIZE


@pytest.mark.parametrize("form", [bytes, bytearray, memoryview, str])
def test_custom_limit(form: Any) -> None:
    data = payload(POLL)
    value = data.decode() if form is str else form(data)
    with pytest.raises(MessageTooLarge, match=rf"over the limit of {len(data) - 1} bytes") as info:
        parse_document(value, max_size=len(data) - 1)
    assert info.value.limit == len(data) - 1
    assert info.value.size >= len(data) - 1
    assert parse_message(value, max_size=len(data)).ven_id == "ven-1"


def test_size_checked_before_anything_else() -> None:
    """An oversize body is refused as too large even when it is also unsafe."""
    with pytest.raises(MessageTooLarge):
        parse_document(BILLION_LAUGHS, max_size=100)
    with pytest.raises(MessageTooLarge):
        parse_document("é" * 60, max_size=100)  # 60 characters, 120 bytes


def test_size_limit_counts_utf8_bytes() -> None:
    data = payload("<oadr:oadrPoll><ei:venID>ééé</ei:venID></oadr:oadrPoll>").decode()
    with pytest.raises(MessageTooLarge):
        parse_document(data, max_size=len(data))
    assert parse_message(data, max_size=len(data.encode())).ven_id == "ééé"


def test_deeply_nested_document() -> None:
    depth = 100_000
    data = payload("<oadr:oadrPoll>" + "<x>" * depth + "</x>" * depth + "</oadr:oadrPoll>")
    with pytest.raises(MalformedXML, match="depth"):
        parse_document(data)


def test_deep_but_allowed_nesting_is_ignored(extract_impl: Any) -> None:
    data = payload("<oadr:oadrPoll>" + "<x>" * 200 + "</x>" * 200 + "<ei:venID>v</ei:venID></oadr:oadrPoll>")
    assert full(extract_impl, data).ven_id == "v"


def test_huge_text_node(extract_impl: Any) -> None:
    text = "7" * 1_500_000
    data = payload(f"<oadr:oadrPoll><ei:venID>{text}</ei:venID></oadr:oadrPoll>")
    assert full(extract_impl, data).ven_id == text  # under the 2 MiB cap: kept exactly
    huge = payload(f"<oadr:oadrPoll><ei:venID>{'7' * 10_500_000}</ei:venID></oadr:oadrPoll>")
    with pytest.raises(MessageTooLarge):
        parse_document(huge)
    # over libxml2's 10 MB text limit (huge_tree is off) when the size cap is raised
    with pytest.raises(MalformedXML):
        parse_document(huge, max_size=16 * 1024 * 1024)


def test_many_attributes_and_long_names() -> None:
    attrs = " ".join(f'a{i}="{i}"' for i in range(2000))
    data = payload(f"<oadr:oadrPoll {attrs}><ei:venID>v</ei:venID><{'n' * 50_000}/></oadr:oadrPoll>")
    assert parse_message(data).ven_id == "v"


# ------------------------------------------------------------------ wrong shape


def test_wrong_root() -> None:
    with pytest.raises(UnknownMessage, match="root element is foo, expected"):
        parse_document(b"<foo/>")


def test_wrong_root_namespace() -> None:
    data = payload(POLL).replace(NS["oadr"].encode(), b"http://openadr.org/oadr-2.0a/2012/07")
    with pytest.raises(UnknownMessage, match=r"root element is \{http://openadr.org/oadr-2.0a/2012/07\}oadrPayload"):
        parse_document(data)


def test_extract_checks_the_root_too(extract_impl: Any) -> None:
    with pytest.raises(UnknownMessage, match="root element is"):
        extract_impl(etree.fromstring(b'<a xmlns="urn:x"/>'))


def test_message_in_wrong_namespace(extract_impl: Any) -> None:
    data = payload("<ei:oadrPoll><ei:venID>v</ei:venID></ei:oadrPoll>")
    with pytest.raises(UnknownMessage, match=r"unknown message element \{http://docs.oasis-open.org/ns/energyinterop"
                                             r"/201110\}oadrPoll"):
        full(extract_impl, data)


def test_unknown_message(extract_impl: Any) -> None:
    with pytest.raises(UnknownMessage, match="oadrFutureMessage") as info:
        full(extract_impl, payload("<oadr:oadrFutureMessage/>"))
    assert info.value.response_code == 453


def test_field_in_wrong_namespace(extract_impl: Any) -> None:
    data = payload("<oadr:oadrPoll><oadr:venID>v</oadr:venID></oadr:oadrPoll>")
    with pytest.raises(InvalidMessage, match="missing required element oadrPoll/venID") as info:
        full(extract_impl, data)
    assert info.value.path == "oadrPoll/venID"
    assert info.value.message_type == "oadrPoll"


def test_missing_signed_object(extract_impl: Any) -> None:
    data = f'<oadr:oadrPayload {NSDECL}>{POLL}</oadr:oadrPayload>'.encode()
    with pytest.raises(InvalidMessage, match="missing required element oadrPayload/oadrSignedObject"):
        full(extract_impl, data)


def test_two_signed_objects(extract_impl: Any) -> None:
    so = f"<oadr:oadrSignedObject>{POLL}</oadr:oadrSignedObject>"
    data = f"<oadr:oadrPayload {NSDECL}>{so}{so}</oadr:oadrPayload>".encode()
    with pytest.raises(InvalidMessage, match="more than one oadrSignedObject"):
        full(extract_impl, data)


def test_two_messages_in_one_signed_object(extract_impl: Any) -> None:
    with pytest.raises(InvalidMessage, match="oadrSignedObject holds 2 elements, expected exactly one message"):
        full(extract_impl, payload(POLL + POLL))


def test_empty_signed_object(extract_impl: Any) -> None:
    with pytest.raises(InvalidMessage, match="oadrSignedObject holds no message"):
        full(extract_impl, payload("  "))


# ------------------------------------------------------------------ missing required elements

RESP = "<ei:eiResponse><ei:responseCode>200</ei:responseCode><pyld:requestID>r</pyld:requestID></ei:eiResponse>"
EVENT = (
    "<oadr:oadrEvent><ei:eiEvent><ei:eventDescriptor><ei:eventID>e</ei:eventID>"
    "<ei:modificationNumber>0</ei:modificationNumber><ei:eiMarketContext><emix:marketContext>m</emix:marketContext>"
    "</ei:eiMarketContext><ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime>"
    "<ei:eventStatus>far</ei:eventStatus></ei:eventDescriptor><ei:eiActivePeriod><xcal:properties>"
    "<xcal:dtstart><xcal:date-time>2026-11-26T12:00:00Z</xcal:date-time></xcal:dtstart>"
    "<xcal:duration><xcal:duration>PT1H</xcal:duration></xcal:duration></xcal:properties></ei:eiActivePeriod>"
    "<ei:eiEventSignals><ei:eiEventSignal><strm:intervals><ei:interval>"
    "<xcal:duration><xcal:duration>PT1H</xcal:duration></xcal:duration>"
    "<ei:signalPayload><ei:payloadFloat><ei:value>1</ei:value></ei:payloadFloat></ei:signalPayload>"
    "</ei:interval></strm:intervals><ei:signalName>SIMPLE</ei:signalName><ei:signalType>level</ei:signalType>"
    "<ei:signalID>s</ei:signalID></ei:eiEventSignal></ei:eiEventSignals><ei:eiTarget/></ei:eiEvent>"
    "<oadr:oadrResponseRequired>always</oadr:oadrResponseRequired></oadr:oadrEvent>"
)


def distribute(*events: str) -> str:
    return ("<oadr:oadrDistributeEvent><pyld:requestID>r</pyld:requestID><ei:vtnID>v</ei:vtnID>"
            + "".join(events) + "</oadr:oadrDistributeEvent>")


REPORT = (
    "<oadr:oadrReport><strm:intervals><ei:interval><xcal:dtstart><xcal:date-time>2026-11-26T12:00:00Z"
    "</xcal:date-time></xcal:dtstart><oadr:oadrReportPayload><ei:rID>r</ei:rID><ei:payloadFloat><ei:value>1"
    "</ei:value></ei:payloadFloat></oadr:oadrReportPayload></ei:interval></strm:intervals>"
    "<ei:reportRequestID>rr</ei:reportRequestID><ei:reportSpecifierID>s</ei:reportSpecifierID>"
    "<ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime></oadr:oadrReport>"
)


def update_report(report: str) -> str:
    return f"<oadr:oadrUpdateReport><pyld:requestID>u</pyld:requestID>{report}</oadr:oadrUpdateReport>"


def drop(xml: str, element: str, nth: int = 1) -> str:
    """Remove the nth occurrence of the element ``element`` (``prefix:local``) from ``xml``."""
    start = -1
    for _ in range(nth):
        start = xml.index(f"<{element}>", start + 1)
    end = xml.index(f"</{element}>", start) + len(f"</{element}>")
    return xml[:start] + xml[end:]


EVENT_PATH = "oadrDistributeEvent/oadrEvent["


def assert_event_error(msg: Any, text: str, path: str) -> None:
    """An error inside one ``oadrEvent`` does not fail the message: that event becomes an EventError (rules 19, 48)."""
    assert isinstance(msg, m.DistributeEvent)
    assert [(e.description, e.path, e.response_code) for e in msg.errors] == [(text, path, 454)]


MISSING: list[tuple[str, str]] = [
    ("<oadr:oadrPoll/>", "oadrPoll/venID"),
    ("<oadr:oadrResponse/>", "oadrResponse/eiResponse"),
    ("<oadr:oadrResponse><ei:eiResponse/></oadr:oadrResponse>", "oadrResponse/eiResponse/responseCode"),
    ("<oadr:oadrQueryRegistration/>", "oadrQueryRegistration/requestID"),
    ("<oadr:oadrCreatedPartyRegistration>" + RESP + "</oadr:oadrCreatedPartyRegistration>",
     "oadrCreatedPartyRegistration/vtnID"),
    ("<oadr:oadrCreatedPartyRegistration>" + RESP + "<ei:vtnID>v</ei:vtnID><oadr:oadrProfiles><oadr:oadrProfile>"
     "<oadr:oadrTransports/></oadr:oadrProfile><oadr:oadrProfile/></oadr:oadrProfiles>"
     "</oadr:oadrCreatedPartyRegistration>",
     "oadrCreatedPartyRegistration/oadrProfiles/oadrProfile[1]/oadrProfileName"),
    ("<oadr:oadrCreatePartyRegistration><pyld:requestID>r</pyld:requestID>"
     "<oadr:oadrProfileName>2.0b</oadr:oadrProfileName><oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName>"
     "<oadr:oadrXmlSignature>false</oadr:oadrXmlSignature></oadr:oadrCreatePartyRegistration>",
     "oadrCreatePartyRegistration/oadrReportOnly"),
    ("<oadr:oadrCancelPartyRegistration><pyld:requestID>r</pyld:requestID><ei:registrationID>g</ei:registrationID>"
     "</oadr:oadrCancelPartyRegistration>", "oadrCancelPartyRegistration/venID"),
    ("<oadr:oadrRequestEvent><pyld:eiRequestEvent><pyld:requestID>r</pyld:requestID></pyld:eiRequestEvent>"
     "</oadr:oadrRequestEvent>", "oadrRequestEvent/eiRequestEvent/venID"),
    ("<oadr:oadrDistributeEvent><pyld:requestID>r</pyld:requestID></oadr:oadrDistributeEvent>",
     "oadrDistributeEvent/vtnID"),
    (distribute(EVENT, drop(EVENT, "ei:eventID")), "oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor/eventID"),
    (distribute(drop(EVENT, "ei:eiMarketContext")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eventDescriptor/eiMarketContext"),
    (distribute(drop(EVENT, "ei:createdDateTime")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eventDescriptor/createdDateTime"),
    (distribute(drop(EVENT, "ei:eventStatus")), "oadrDistributeEvent/oadrEvent[1]/eiEvent/eventDescriptor/eventStatus"),
    (distribute(drop(EVENT, "xcal:dtstart")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiActivePeriod/properties/dtstart"),
    (distribute(EVENT, EVENT, EVENT.replace("<xcal:duration><xcal:duration>PT1H</xcal:duration></xcal:duration>"
                                            "<ei:signalPayload>", "<ei:signalPayload>")),
     "oadrDistributeEvent/oadrEvent[3]/eiEvent/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/duration"),
    (distribute(drop(EVENT, "ei:signalPayload")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload"),
    (distribute(EVENT.replace("<ei:value>1</ei:value>", "")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload"
     "/payloadFloat/value"),
    (distribute(drop(EVENT, "ei:signalName")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiEventSignals/eiEventSignal[1]/signalName"),
    (distribute(drop(EVENT, "strm:intervals")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiEventSignals/eiEventSignal[1]/intervals"),
    (distribute(drop(EVENT, "ei:eiEventSignals")), "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiEventSignals"),
    (distribute(drop(EVENT, "ei:eiEvent")), "oadrDistributeEvent/oadrEvent[1]/eiEvent"),
    (distribute(EVENT.replace("<ei:eiTarget/>", "<ei:eiTarget><ei:venID>a</ei:venID><power:endDeviceAsset/>"
                                                "</ei:eiTarget>")),
     "oadrDistributeEvent/oadrEvent[1]/eiEvent/eiTarget/endDeviceAsset[1]/mrid"),
    ("<oadr:oadrCreatedEvent><pyld:eiCreatedEvent>" + RESP + "<ei:eventResponses><ei:eventResponse>"
     "<ei:responseCode>200</ei:responseCode><pyld:requestID>r</pyld:requestID><ei:optType>optIn</ei:optType>"
     "</ei:eventResponse></ei:eventResponses><ei:venID>v</ei:venID></pyld:eiCreatedEvent></oadr:oadrCreatedEvent>",
     "oadrCreatedEvent/eiCreatedEvent/eventResponses/eventResponse[1]/qualifiedEventID"),
    ("<oadr:oadrCreatedEvent><pyld:eiCreatedEvent>" + RESP + "</pyld:eiCreatedEvent></oadr:oadrCreatedEvent>",
     "oadrCreatedEvent/eiCreatedEvent/venID"),
    (update_report(drop(REPORT, "ei:reportSpecifierID")), "oadrUpdateReport/oadrReport[1]/reportSpecifierID"),
    (update_report(REPORT + drop(REPORT, "ei:createdDateTime")), "oadrUpdateReport/oadrReport[2]/createdDateTime"),
    (update_report(drop(REPORT, "ei:rID")),
     "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/oadrReportPayload[1]/rID"),
    (update_report(drop(REPORT, "ei:payloadFloat")),
     "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/oadrReportPayload[1]/payloadFloat"),
    (update_report(drop(REPORT, "xcal:dtstart")), "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/dtstart"),
    (update_report(REPORT.replace("<ei:payloadFloat><ei:value>1</ei:value></ei:payloadFloat>",
                                  "<oadr:oadrPayloadResourceStatus><oadr:oadrOnline>true</oadr:oadrOnline>"
                                  "</oadr:oadrPayloadResourceStatus>")),
     "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/oadrReportPayload[1]/oadrPayloadResourceStatus"
     "/oadrManualOverride"),
    ("<oadr:oadrCreateReport><pyld:requestID>c</pyld:requestID><oadr:oadrReportRequest>"
     "<ei:reportRequestID>rr</ei:reportRequestID><ei:reportSpecifier><ei:reportSpecifierID>s</ei:reportSpecifierID>"
     "</ei:reportSpecifier></oadr:oadrReportRequest></oadr:oadrCreateReport>",
     "oadrCreateReport/oadrReportRequest[1]/reportSpecifier/granularity"),
    ("<oadr:oadrCreatedReport>" + RESP + "</oadr:oadrCreatedReport>", "oadrCreatedReport/oadrPendingReports"),
    ("<oadr:oadrCancelReport><pyld:requestID>c</pyld:requestID><pyld:reportToFollow>false</pyld:reportToFollow>"
     "</oadr:oadrCancelReport>", "oadrCancelReport/reportRequestID"),
    ("<oadr:oadrCancelReport><pyld:requestID>c</pyld:requestID><ei:reportRequestID>x</ei:reportRequestID>"
     "</oadr:oadrCancelReport>", "oadrCancelReport/reportToFollow"),
    ("<oadr:oadrCreateOpt><ei:optID>o</ei:optID><ei:optType>optIn</ei:optType><ei:optReason>x</ei:optReason>"
     "<ei:venID>v</ei:venID><ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime>"
     "<pyld:requestID>r</pyld:requestID></oadr:oadrCreateOpt>", "oadrCreateOpt/eiTarget"),
    ("<oadr:oadrCancelOpt><pyld:requestID>r</pyld:requestID><ei:venID>v</ei:venID></oadr:oadrCancelOpt>",
     "oadrCancelOpt/optID"),
    ("<oadr:oadrCanceledOpt>" + RESP + "</oadr:oadrCanceledOpt>", "oadrCanceledOpt/optID"),
]


@pytest.mark.parametrize(("body", "path"), MISSING, ids=[p for _, p in MISSING])
def test_missing_required_element(extract_impl: Any, body: str, path: str) -> None:
    if path.startswith(EVENT_PATH):
        assert_event_error(full(extract_impl, payload(body)), f"missing required element {path}", path)
        return
    with pytest.raises(InvalidMessage) as info:
        full(extract_impl, payload(body))
    assert str(info.value) == f"missing required element {path}"
    assert info.value.path == path
    assert info.value.message_type == path.split("/")[0]
    assert info.value.response_code == 454


# ------------------------------------------------------------------ bad values


def _event_with(old: str, new: str) -> str:
    assert old in EVENT
    return distribute(EVENT, EVENT.replace(old, new))


E2 = "oadrDistributeEvent/oadrEvent[2]/eiEvent"
BAD: list[tuple[str, str, str, str]] = [
    (_event_with("2026-11-26T12:00:00Z", "2026-11-26 12:00:00"), "date-time", "'2026-11-26 12:00:00'",
     f"{E2}/eiActivePeriod/properties/dtstart/date-time"),
    (_event_with("2026-11-26T12:00:00Z", "2026-02-30T12:00:00Z"), "date-time", "'2026-02-30T12:00:00Z'",
     f"{E2}/eiActivePeriod/properties/dtstart/date-time"),
    (_event_with("2026-11-26T12:00:00Z", "2026-11-26T25:00:00Z"), "date-time", "'2026-11-26T25:00:00Z'",
     f"{E2}/eiActivePeriod/properties/dtstart/date-time"),
    (_event_with("2026-11-26T12:00:00Z", "2026-11-26T12:00:00+25:00"), "date-time", "'2026-11-26T12:00:00+25:00'",
     f"{E2}/eiActivePeriod/properties/dtstart/date-time"),
    (_event_with("2026-11-26T12:00:00Z", ""), "date-time", "''", f"{E2}/eiActivePeriod/properties/dtstart/date-time"),
    (_event_with("2026-11-26T11:00:00Z", "yesterday"), "date-time", "'yesterday'",
     f"{E2}/eventDescriptor/createdDateTime"),
    (_event_with("<xcal:duration>PT1H</xcal:duration></xcal:duration></xcal:properties>",
                 "<xcal:duration>1 hour</xcal:duration></xcal:duration></xcal:properties>"),
     "duration", "'1 hour'", f"{E2}/eiActivePeriod/properties/duration/duration"),
    (_event_with("<xcal:duration>PT1H</xcal:duration></xcal:duration><ei:signalPayload>",
                 "<xcal:duration>P</xcal:duration></xcal:duration><ei:signalPayload>"),
     "duration", "'P'", f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/duration/duration"),
    (_event_with("<xcal:duration>PT1H</xcal:duration></xcal:duration><ei:signalPayload>",
                 "<xcal:duration>PT</xcal:duration></xcal:duration><ei:signalPayload>"),
     "duration", "'PT'", f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/duration/duration"),
    (_event_with("<ei:modificationNumber>0<", "<ei:modificationNumber>zero<"), "integer", "'zero'",
     f"{E2}/eventDescriptor/modificationNumber"),
    (_event_with("<ei:modificationNumber>0<", "<ei:modificationNumber>1.0<"), "integer", "'1.0'",
     f"{E2}/eventDescriptor/modificationNumber"),
    (_event_with("<ei:modificationNumber>0<", "<ei:modificationNumber>1_000<"), "integer", "'1_000'",
     f"{E2}/eventDescriptor/modificationNumber"),
    (_event_with("<ei:modificationNumber>0<", "<ei:modificationNumber>\u0661<"), "integer", "'\u0661'",
     f"{E2}/eventDescriptor/modificationNumber"),
    (_event_with("<ei:eventStatus>far<", "<ei:priority>high</ei:priority><ei:eventStatus>far<"), "integer", "'high'",
     f"{E2}/eventDescriptor/priority"),
    (_event_with("<ei:value>1</ei:value>", "<ei:value>one</ei:value>"), "float", "'one'",
     f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload/payloadFloat/value"),
    (_event_with("<ei:value>1</ei:value>", "<ei:value>1_0</ei:value>"), "float", "'1_0'",
     f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload/payloadFloat/value"),
    (_event_with("<ei:value>1</ei:value>", "<ei:value>infinity</ei:value>"), "float", "'infinity'",
     f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload/payloadFloat/value"),
    (_event_with("<ei:value>1</ei:value>", "<ei:value></ei:value>"), "float", "''",
     f"{E2}/eiEventSignals/eiEventSignal[1]/intervals/interval[1]/signalPayload/payloadFloat/value"),
    (_event_with("<ei:eventStatus>far<", "<ei:eventStatus>FAR<"), "eventStatus", "'FAR'",
     f"{E2}/eventDescriptor/eventStatus"),
    (_event_with(">always<", ">sometimes<"), "oadrResponseRequired", "'sometimes'",
     "oadrDistributeEvent/oadrEvent[2]/oadrResponseRequired"),
    ("<oadr:oadrResponse><ei:eiResponse><ei:responseCode>OK</ei:responseCode></ei:eiResponse></oadr:oadrResponse>",
     "integer", "'OK'", "oadrResponse/eiResponse/responseCode"),
    ("<oadr:oadrCancelReport><pyld:requestID>c</pyld:requestID><ei:reportRequestID>x</ei:reportRequestID>"
     "<pyld:reportToFollow>yes</pyld:reportToFollow></oadr:oadrCancelReport>", "boolean", "'yes'",
     "oadrCancelReport/reportToFollow"),
    ("<oadr:oadrCreatedPartyRegistration>" + RESP + "<ei:vtnID>v</ei:vtnID><oadr:oadrRequestedOadrPollFreq>"
     "<xcal:duration>10s</xcal:duration></oadr:oadrRequestedOadrPollFreq></oadr:oadrCreatedPartyRegistration>",
     "duration", "'10s'", "oadrCreatedPartyRegistration/oadrRequestedOadrPollFreq/duration"),
    ("<oadr:oadrCreatedEvent><pyld:eiCreatedEvent>" + RESP + "<ei:eventResponses><ei:eventResponse>"
     "<ei:responseCode>200</ei:responseCode><pyld:requestID>r</pyld:requestID><ei:qualifiedEventID>"
     "<ei:eventID>e</ei:eventID><ei:modificationNumber>0</ei:modificationNumber></ei:qualifiedEventID>"
     "<ei:optType>maybe</ei:optType></ei:eventResponse></ei:eventResponses><ei:venID>v</ei:venID>"
     "</pyld:eiCreatedEvent></oadr:oadrCreatedEvent>", "optType", "'maybe'",
     "oadrCreatedEvent/eiCreatedEvent/eventResponses/eventResponse[1]/optType"),
    (update_report(REPORT.replace("<ei:value>1</ei:value>", "<ei:value>1,5</ei:value>")), "float", "'1,5'",
     "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/oadrReportPayload[1]/payloadFloat/value"),
]


@pytest.mark.parametrize(("body", "kind", "shown", "path"), BAD, ids=[f"{k}-{s}" for _, k, s, _ in BAD])
def test_bad_value(extract_impl: Any, body: str, kind: str, shown: str, path: str) -> None:
    if path.startswith(EVENT_PATH):
        assert_event_error(full(extract_impl, payload(body)), f"invalid {kind} {shown} at {path}", path)
        return
    with pytest.raises(InvalidValue) as info:
        full(extract_impl, payload(body))
    assert str(info.value) == f"invalid {kind} {shown} at {path}"
    assert info.value.path == path
    assert info.value.message_type == path.split("/")[0]


# ------------------------------------------------------------------ fuzz: mutated real messages

SEEDS = [payload(distribute(EVENT, EVENT)), payload(update_report(REPORT)), payload(POLL),
         payload(MISSING[5][0]), payload(BAD[20][0])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_messages_raise_only_message_errors(extract_impl: Any, seed: bytes, data: st.DataObject) -> None:
    doc = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "dup"]))
        pos = data.draw(st.integers(0, len(doc) - 1))
        if op == "flip":
            doc[pos] = data.draw(st.sampled_from(list(b"<>/&;:=\"' !?-0123456789abcxyzPTZ\x00\xff")))
        elif op == "delete":
            del doc[pos : pos + data.draw(st.integers(1, 40))]
        elif op == "insert":
            doc[pos:pos] = data.draw(st.sampled_from([b"<!DOCTYPE x>", b"&amp;", b"<x>", b"</x>", b"<![CDATA[",
                                                      b"]]>", b"<!--", b"-->", b"<?pi?>", b"\xc3", b"&#0;"]))
        else:
            n = data.draw(st.integers(1, 200))
            doc[pos:pos] = doc[pos : pos + n]
        if not doc:
            doc = bytearray(b"<")
    try:
        full(extract_impl, bytes(doc))
    except MessageError:
        pass
