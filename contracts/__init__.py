"""TalentLoop's event contracts: the envelope, versioned payloads, topics, upcasters. No I/O."""

from contracts.envelope import CONTENT_TYPE, ContractError, Envelope
from contracts.registry import PAYLOADS, build, latest_type, payload_of

__all__ = ["CONTENT_TYPE", "PAYLOADS", "ContractError", "Envelope", "build", "latest_type", "payload_of"]
