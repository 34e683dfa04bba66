"""Allow and deny publish and play by client address, as nginx-rtmp's ``allow``/``deny``.

A rule is one line: ``allow|deny [publish|play] ADDRESS|CIDR|all``, e.g.::

    allow publish 127.0.0.1
    allow publish 10.0.0.0/8
    deny publish all
    deny play 2001:db8::/32

Rules apply in order and the first that matches the request's kind and address decides; a
rule without ``publish`` or ``play`` applies to both. A request no rule matches is allowed
(as in nginx-rtmp: end a list with ``deny ... all`` to refuse the rest). IPv4 and IPv6 are
both understood; an IPv4-mapped IPv6 client (``::ffff:192.0.2.1``, from a dual-stack
listener) matches IPv4 rules as well as IPv6 ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from rtmp_actors.relay.access_request import AccessKind

__all__ = ["IpRule", "IpRules"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_ALL = "all"
_ACTIONS = {"allow": True, "deny": False}
_KINDS = {kind.value: frozenset({kind}) for kind in AccessKind}


@dataclass(frozen=True, slots=True)
class IpRule:
    """One parsed rule.

    Attributes:
        allow: Whether a match allows (True) or refuses (False).
        kinds: The requests it applies to.
        network: The addresses it matches; None for ``all``.
    """

    allow: bool
    kinds: frozenset[AccessKind]
    network: Network | None

    @classmethod
    def parse(cls, line: str) -> IpRule:
        """Parse ``allow|deny [publish|play] ADDRESS|CIDR|all``.

        Raises:
            ValueError: For anything else, saying what was expected.
        """
        words = line.split()
        expected = f"expected 'allow|deny [publish|play] ADDRESS|CIDR|all', not {line.strip()!r}"
        if len(words) not in (2, 3) or words[0].lower() not in _ACTIONS:
            raise ValueError(expected)
        kinds = frozenset(AccessKind)
        if len(words) == 3:
            if words[1].lower() not in _KINDS:
                raise ValueError(expected)
            kinds = _KINDS[words[1].lower()]
        target = words[-1]
        network: Network | None = None
        if target.lower() != _ALL:
            try:
                # strict=False: "10.1.2.3/8" means 10.0.0.0/8, as nginx reads it.
                network = ipaddress.ip_network(target, strict=False)
            except ValueError:
                msg = f"{target!r} is not an IP address, a CIDR block or 'all' ({expected})"
                raise ValueError(msg) from None
        return cls(_ACTIONS[words[0].lower()], kinds, network)

    def matches(self, kind: AccessKind, addresses: tuple[Address, ...]) -> bool:
        """Whether the rule applies to ``kind`` from a client known by ``addresses``.

        ``addresses`` are the forms of one client's address (an IPv4-mapped IPv6 address and
        its IPv4 address), or none when it is not an IP address.
        """
        if kind not in self.kinds:
            return False
        network = self.network
        return network is None or any(address in network for address in addresses)


@dataclass(frozen=True, slots=True)
class IpRules:
    """An ordered list of rules (``[ip_rules] rules = [...]`` in the relay's TOML config).

    A plain settings object: the relay takes one, and so could a future per-application
    block.

    Attributes:
        rules: The rules as written, one per string (checked when the object is made).

    Raises:
        ValueError: For a rule that does not parse, naming it and its position.
    """

    rules: tuple[str, ...] = ()
    parsed: tuple[IpRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = []
        for number, line in enumerate(self.rules, start=1):
            try:
                parsed.append(IpRule.parse(line))
            except ValueError as error:
                msg = f"IP rule {number}: {error}"
                raise ValueError(msg) from None
        object.__setattr__(self, "parsed", tuple(parsed))

    @classmethod
    def of(cls, rules: Iterable[str]) -> IpRules:
        """Rules from any iterable of lines."""
        return cls(tuple(rules))

    def allows(self, kind: AccessKind, host: str) -> bool:
        """Whether a ``kind`` request from ``host`` is allowed (the first match decides).

        An address that cannot be parsed (unknown: "") matches only ``all`` rules.
        """
        addresses = _forms(host)
        for rule in self.parsed:
            if rule.matches(kind, addresses):
                return rule.allow
        return True

    def __bool__(self) -> bool:
        return bool(self.parsed)


def _forms(host: str) -> tuple[Address, ...]:
    """The address as it is, and as IPv4 if it is IPv4-mapped IPv6: a rule of either matches."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return ()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return (address, address.ipv4_mapped)
    return (address,)
