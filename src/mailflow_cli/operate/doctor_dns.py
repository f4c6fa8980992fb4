"""DNS for ``mailflow doctor``: each domain's MX, SPF and DMARC records, through dnspython.

Every lookup is short (``TIMEOUT_SECONDS`` per attempt, ``RETRIES`` more attempts) and none can raise:
no network, no resolver configuration or a server that does not answer all give ``could not resolve``,
a warning, never a hang or a crash. A name that does not exist, or has no records of the type, is an
answer (no records), and the checks say what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailflow_cli.deploy.handlers.base import fan_out
from mailflow_cli.operate.dns_records import inbound_mx_host

Status = Literal["ok", "warn", "fail"]
TIMEOUT_SECONDS = 2.0
RETRIES = 1


@dataclass(frozen=True)
class Answer:
    """The records' texts, or ``records is None`` with ``error`` when the name could not be resolved."""

    records: tuple[str, ...] | None
    error: str | None = None


@dataclass(frozen=True)
class DnsCheck:
    domain: str
    name: str  # mx, spf, dmarc
    status: Status
    detail: str
    fix: str = ""


class DnsClient:
    """Queries the system's resolvers (or ``nameservers``:``port``), with short timeouts."""

    def __init__(
        self,
        nameservers: list[str] | None = None,
        port: int = 53,
        timeout: float = TIMEOUT_SECONDS,
        retries: int = RETRIES,
    ) -> None:
        self._nameservers = nameservers
        self._port = port
        self._timeout = timeout
        self._retries = retries

    def lookup(self, name: str, rdtype: str) -> Answer:
        import dns.exception
        import dns.resolver

        try:
            resolver = dns.resolver.Resolver(configure=self._nameservers is None)
        except dns.exception.DNSException as exc:  # no /etc/resolv.conf, nothing configured
            return Answer(None, f"no resolver configured: {type(exc).__name__}")
        if self._nameservers is not None:
            resolver.nameservers = list(self._nameservers)
            resolver.port = self._port
        resolver.timeout = self._timeout
        resolver.lifetime = self._timeout
        problem: Exception | None = None
        for _ in range(1 + self._retries):
            try:
                answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return Answer(())
            except (dns.exception.DNSException, OSError) as exc:
                problem = exc
                continue
            return Answer(tuple(_text(rdata) for rdata in answer))
        return Answer(None, self._describe(problem))

    def _describe(self, problem: Exception | None) -> str:
        import dns.resolver

        attempts = 1 + self._retries
        if isinstance(problem, dns.resolver.LifetimeTimeout):
            return f"no answer within {self._timeout:g} s, {attempts} attempt(s)"
        if isinstance(problem, dns.resolver.NoNameservers):
            return "no DNS server answered usefully"
        return type(problem).__name__ if problem is not None else "no answer"


def _text(rdata: object) -> str:
    """MX: ``<preference> <host>`` (host lowercase, no final dot); TXT: its strings joined."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return "".join(part.decode("utf-8", "replace") for part in strings)
    exchange = getattr(rdata, "exchange", None)
    if exchange is not None:
        host = exchange.to_text().lower().rstrip(".")
        return f"{getattr(rdata, 'preference', 0)} {host}"
    return str(rdata)


def check_domains(domains: list[str], region: str, client: DnsClient) -> list[DnsCheck]:
    """MX, SPF and DMARC of every domain, looked up concurrently."""
    lookups = [(domain, kind) for domain in domains for kind in ("mx", "spf", "dmarc")]

    def one(lookup: tuple[str, str]) -> DnsCheck:
        domain, kind = lookup
        if kind == "mx":
            return _mx(domain, region, client.lookup(domain, "MX"))
        if kind == "spf":
            return _spf(domain, client.lookup(domain, "TXT"))
        return _dmarc(domain, client.lookup(f"_dmarc.{domain}", "TXT"))

    return fan_out(one, lookups)


def _unresolved(domain: str, name: str, what: str, answer: Answer) -> DnsCheck:
    return DnsCheck(
        domain,
        name,
        "warn",
        f"could not resolve {what} ({answer.error})",
        "check this machine's network and DNS, or pass --no-dns",
    )


def _mx(domain: str, region: str, answer: Answer) -> DnsCheck:
    expected = inbound_mx_host(region)
    if answer.records is None:
        return _unresolved(domain, "mx", f"the MX of {domain}", answer)
    fix = f"set the MX of {domain} to 10 {expected} (mailflow verify-domain {domain} prints it)"
    if not answer.records:
        return DnsCheck(domain, "mx", "fail", f"{domain} has no MX record: no mail reaches SES", fix)
    exchanges = sorted((int(pref), host) for pref, _, host in (r.partition(" ") for r in answer.records))
    hosts = ", ".join(f"{pref} {host}" for pref, host in exchanges)
    if all(host != expected for _, host in exchanges):
        return DnsCheck(domain, "mx", "fail", f"MX of {domain} is {hosts}, not {expected}", fix)
    best = exchanges[0][0]
    first = [host for pref, host in exchanges if pref == best]
    if first != [expected]:
        return DnsCheck(
            domain,
            "mx",
            "warn",
            f"MX of {domain} is {hosts}: senders try {', '.join(h for h in first if h != expected)} as well "
            f"as (or before) {expected}",
            f"leave only {expected} as the lowest MX preference",
        )
    return DnsCheck(domain, "mx", "ok", f"MX {hosts}")


def _spf(domain: str, answer: Answer) -> DnsCheck:
    if answer.records is None:
        return _unresolved(domain, "spf", f"the TXT records of {domain}", answer)
    spf = [r for r in answer.records if r.lower().startswith("v=spf1")]
    if not spf:
        return DnsCheck(
            domain,
            "spf",
            "warn",
            f"{domain} has no SPF record",
            f'add TXT "v=spf1 include:amazonses.com ~all" at {domain} (merged with your other senders)',
        )
    if len(spf) > 1:
        return DnsCheck(
            domain,
            "spf",
            "warn",
            f"{domain} has {len(spf)} SPF records, which receivers treat as an error (RFC 7208 4.5)",
            "merge them into one v=spf1 record",
        )
    return DnsCheck(domain, "spf", "ok", f"SPF {spf[0]}")


def _dmarc(domain: str, answer: Answer) -> DnsCheck:
    if answer.records is None:
        return _unresolved(domain, "dmarc", f"_dmarc.{domain}", answer)
    dmarc = [r for r in answer.records if r.replace(" ", "").lower().startswith("v=dmarc1")]
    if not dmarc:
        return DnsCheck(
            domain,
            "dmarc",
            "warn",
            f"_dmarc.{domain} has no DMARC record",
            f"add the _dmarc TXT record that mailflow verify-domain {domain} prints",
        )
    return DnsCheck(domain, "dmarc", "ok", f"DMARC {dmarc[0]}")
