"""TalentLoop's event contracts: the envelope, versioned payloads and topics. No I/O."""

from contracts.envelope import CONTENT_TYPE, ContractError, Envelope
from contracts.registry import PAYLOADS, build, payload_of

__all__ = ["CONTENT_TYPE", "PAYLOADS", "ContractError", "Envelope", "build", "payload_of"]
