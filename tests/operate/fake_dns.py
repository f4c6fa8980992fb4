"""A DNS server on 127.0.0.1 for the doctor tests: real queries through dnspython, no network.

``records`` maps (name, type) to the texts to answer with (MX as ``"10 host."``, TXT as ``'"v=spf1 ..."'``);
a name in none of the keys is NXDOMAIN, a known name without records of the type is an empty answer.
With ``silent=True`` the server reads every query and never answers (a network that drops DNS).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@contextmanager
def dns_server(
    records: dict[tuple[str, str], list[str]], *, silent: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """Yields (port, the questions asked as "name TYPE")."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    asked: list[str] = []
    stop = threading.Event()
    names = {name.rstrip(".").lower() for name, _ in records}

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            asked.append(f"{name} {rdtype}")
            if silent:
                continue
            response = dns.message.make_response(query)
            texts = records.get((name, rdtype))
            if texts:
                response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rdtype, texts))
            elif name not in names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], asked
    finally:
        stop.set()
        thread.join()
        sock.close()


def healthy_records(domains: tuple[str, ...], region: str = "eu-west-1") -> dict[tuple[str, str], list[str]]:
    records: dict[tuple[str, str], list[str]] = {}
    for domain in domains:
        records[(domain, "MX")] = [f"10 inbound-smtp.{region}.amazonaws.com."]
        records[(domain, "TXT")] = ['"v=spf1 include:amazonses.com ~all"', '"google-site-verification=x"']
        records[(f"_dmarc.{domain}", "TXT")] = ['"v=DMARC1; p=quarantine"']
    return records
