"""Kafka topics and who writes them. Keys are the referral id (opening id for openings)."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "talentloop"


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str
    description: str
    partitions: int = 3


OPENINGS = Topic(f"{PREFIX}.openings", "employer_gateway", "Openings posted by employers; key: opening id.")
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
    "The closed loop: every change of a referral's partner-facing status, for the referring partner; key: referral id.",
)

ALL: tuple[Topic, ...] = (OPENINGS, REFERRALS, ROUTING, EMPLOYER_ACTIONS, CANDIDATES, SKILLS_GAP, PARTNER_STATUS)


def partner_inbound(partner_id: str) -> str:
    """The raw topic a partner publishes its own records to, in its own shape (not events).

    Intake consumes it through the partner's adapter and deletes what it has processed,
    so the partner's plaintext does not stay on the broker.
    """
    return f"{PREFIX}.inbound.{partner_id}"


def consumer_group(consumer: str, topic: str) -> str:
    """One Kafka consumer group per consuming service and topic.

    A service reads each topic with its own consumer; one group per topic keeps them from
    rebalancing each other (a shared group re-balances every member as each one joins).
    """
    return f"{consumer}.{topic}"


def dead_letter_topic(consumer: str) -> str:
    """One dead-letter topic per consuming service, so a replay goes back to the right one."""
    return f"{PREFIX}.deadletter.{consumer}"
