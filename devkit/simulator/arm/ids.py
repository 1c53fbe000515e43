"""Azure resource IDs: parsing, building and the case-insensitive key the store uses.

ARM treats every segment of a resource ID case-insensitively but echoes the casing the resource
was created with, so an ID keeps its original text and compares by its lower-cased form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    resource_group: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.types) != len(self.names):
            raise ValueError("every resource type segment needs a name")

    @classmethod
    def parse(cls, text: str) -> ResourceId:
        """Parse `/subscriptions/{s}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}...]`."""
        parts = [p for p in text.strip().split("/") if p != ""]
        if not text.startswith("/") or len(parts) < 2 or parts[0].lower() != "subscriptions":
            raise ValueError(f"not a resource ID: {text!r}")
        subscription, rest = parts[1], parts[2:]
        group: str | None = None
        if rest and rest[0].lower() == "resourcegroups":
            if len(rest) < 2:
                raise ValueError(f"resource group name missing in {text!r}")
            group, rest = rest[1], rest[2:]
        if not rest:
            return cls(subscription, group)
        if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2 != 0:
            raise ValueError(f"malformed provider path in {text!r}")
        namespace, pairs = rest[1], rest[2:]
        return cls(subscription, group, namespace, tuple(pairs[0::2]), tuple(pairs[1::2]))

    @classmethod
    def resource(
        cls, subscription: str, resource_group: str, namespace: str, type_name: str, name: str
    ) -> ResourceId:
        return cls(subscription, resource_group, namespace, (type_name,), (name,))

    def child(self, type_name: str, name: str) -> ResourceId:
        if self.namespace is None:
            raise ValueError("only provider resources have children")
        return ResourceId(
            self.subscription,
            self.resource_group,
            self.namespace,
            (*self.types, type_name),
            (*self.names, name),
        )

    @property
    def parent(self) -> ResourceId | None:
        if len(self.types) < 2:
            return None
        return ResourceId(
            self.subscription, self.resource_group, self.namespace, self.types[:-1], self.names[:-1]
        )

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else (self.resource_group or self.subscription)

    @property
    def type(self) -> str:
        """The full resource type, e.g. `Microsoft.Network/virtualNetworks/subnets`."""
        if self.namespace is None:
            return "Microsoft.Resources/resourceGroups" if self.resource_group else "subscriptions"
        return "/".join((self.namespace, *self.types))

    @property
    def key(self) -> str:
        return str(self).lower()

    def __str__(self) -> str:
        text = f"/subscriptions/{self.subscription}"
        if self.resource_group is not None:
            text += f"/resourceGroups/{self.resource_group}"
        if self.namespace is not None:
            text += f"/providers/{self.namespace}"
            for type_name, name in zip(self.types, self.names, strict=True):
                text += f"/{type_name}/{name}"
        return text

    def same_as(self, other: ResourceId | str) -> bool:
        other_key = other.key if isinstance(other, ResourceId) else other.lower().rstrip("/")
        return self.key == other_key
