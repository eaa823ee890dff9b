"""Kafka topics and who writes them. Keys are the referral id (opening id for openings, employer id for
demand forecasts, hiring standards and publication choices, program id for programs, enrollment id for
training, request id or provider id for services)."""

from __future__ import annotations

import os
from dataclasses import dataclass

PREFIX = "talentloop"

# The largest record any topic takes (`max.message.bytes`) and the producer sends
# (`max_request_size`): every valid event fits with room for the headers
# (tests/unit/test_contract_bounds.py proves it for the largest event of every type).
MAX_MESSAGE_BYTES = 1_048_576
# Room kept for Kafka headers (content type, trace context, dead-letter reasons).
HEADER_ALLOWANCE_BYTES = 16_384

PARTITIONS_ENV = "TALENTLOOP_TOPIC_PARTITIONS"
# A consumer group has at most one active member per partition: 3 would cap every service at
# three instances. Per-key order holds with any count, but only for topics created with it:
# an existing topic keeps its partitions (adding some would move keys between them).
DEFAULT_PARTITIONS = 12


def default_partitions() -> int:
    """Partitions of a new topic: `TALENTLOOP_TOPIC_PARTITIONS`, else 12 (read at call time)."""
    raw = os.environ.get(PARTITIONS_ENV, "").strip()
    if not raw:
        return DEFAULT_PARTITIONS
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{PARTITIONS_ENV} must be a whole number of partitions, not {raw!r}") from None
    if not 1 <= count <= 10_000:
        raise ValueError(f"{PARTITIONS_ENV} must be between 1 and 10000, not {count}")
    return count


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str
    description: str
    fixed_partitions: int | None = None  # None: the setting (default_partitions)
    # The ledger's source of truth: `talentloop outcomes rebuild` replays it from offset 0 and
    # the services' consumers read it from their committed offsets, so its log is kept whole
    # (deploy/topics.py KEEP_WHOLE). Only what outcomes derives and tells (partner-status) is not.
    source_of_truth: bool = True

    @property
    def partitions(self) -> int:
        return self.fixed_partitions or default_partitions()


OPENINGS = Topic(
    f"{PREFIX}.openings",
    "employer_gateway",
    "Openings posted by employers (key: opening id); employers' demand forecasts, hiring standards and"
    " publication choices (key: employer id).",
)
REFERRALS = Topic(f"{PREFIX}.referrals", "intake", "Referrals accepted from partners; key: referral id.")
ROUTING = Topic(f"{PREFIX}.routing", "routing", "Routing decisions (routed, unmatched); key: referral id.")
EMPLOYER_ACTIONS = Topic(
    f"{PREFIX}.employer-actions",
    "employer_gateway",
    "What employers did with a referral: acknowledge, decline, interviews, offers, placement, retention,"
    " separation, stale; key: referral id.",
)

CANDIDATES = Topic(
    f"{PREFIX}.candidates",
    "intake",
    "Facts about a candidate across all their referrals (erasure); key: candidate id.",
)

SKILLS_GAP = Topic(
    f"{PREFIX}.skills-gap",
    "routing",
    "What routing saw of skills demanded and held, per decision and occupation; key: O*NET-SOC code.",
)

PARTNER_STATUS = Topic(
    f"{PREFIX}.partner-status",
    "outcomes",
    "The closed loops: every change of a referral's partner-facing status, for the referring partner (key: referral"
    " id); of a service request's status, for its requester (key: request id); of a participant's referral status,"
    " for the training provider the participant shares outcomes with (key: enrollment id).",
    source_of_truth=False,  # told from outcomes' ledger; nothing is rebuilt from it
)

PROGRAMS = Topic(
    f"{PREFIX}.programs",
    "intake",
    "Training programs as their providers registered and updated them; key: program id.",
)

TRAINING = Topic(
    f"{PREFIX}.training",
    "intake",
    "Participants' enrollments in training programs: enrolled, progress, completion, exit and credentials"
    " earned; key: enrollment id.",
)

SERVICES = Topic(
    f"{PREFIX}.services",
    "support",
    "Supportive services: requests from partners to service providers (requested, accepted, declined, delivered,"
    " cancelled, stale; key: request id) and the providers' directory (registered, updated; key: provider id).",
)

ALL: tuple[Topic, ...] = (
    OPENINGS, REFERRALS, ROUTING, EMPLOYER_ACTIONS, CANDIDATES, SKILLS_GAP, PARTNER_STATUS, PROGRAMS, TRAINING,
    SERVICES,
)


def partner_inbound(partner_id: str, record: str = "referral") -> str:
    """The raw topic a partner publishes its own records to, in its own shape (not events):
    `talentloop.inbound.<partner>` for referrals, `talentloop.inbound.<partner>.training` for a
    training provider's enrollments.

    Intake consumes it through the partner's adapter and deletes what it has processed,
    so the partner's plaintext does not stay on the broker.
    """
    return f"{PREFIX}.inbound.{partner_id}" + ("" if record == "referral" else f".{record}")


def consumer_group(consumer: str, role: str = "events") -> str:
    """A consuming service's Kafka consumer group: `<service>.<role>`, one for all the topics
    its consumer reads (`plumbing/consume_loop.py`); `role` tells a service's consumers apart
    (intake's partner topics: `inbound`). The service's ACLs allow its groups by the prefix
    `<service>.` (deploy/kafka_principals.py)."""
    return f"{consumer}.{role}"


def topic_group(consumer: str, topic: str) -> str:
    """The group a service read one topic in until 2026-12 (one per service and topic); its
    committed offsets are carried over to `consumer_group` at the first assignment."""
    return f"{consumer}.{topic}"


def dead_letter_topic(consumer: str) -> str:
    """One dead-letter topic per consuming service, so a replay goes back to the right one."""
    return f"{PREFIX}.deadletter.{consumer}"
