"""Peer benchmarks of training programs (issue 16 item 2; docs/transparency.md, "Peer benchmarks").

Each program's figures are its credential and program outcomes (reports/credentials.py) as **its
own provider** sees them (the referrals its coalition funnel counts), unsuppressed: so a
provider's row is its own program row, and every program is measured by one rule whoever reads
the benchmark. Nothing is adjusted (no weighting, no case mix, no regression).

Compared (`METRICS`): completion rate, credential attainment, placement rate, good-job rate and
median days to placement.

- **Peers.** Programs of *other* providers (never the program's own provider's) with more than
  `threshold` participants (a small program's rates are one or a few people's).
- **Comparison group.** When the program is registered as leading to a credential: the peers
  leading to the same credential, if they come from at least `min_providers` providers for a
  metric; otherwise (no credential, or too few) the peers in the same occupation family: the
  first two digits of the O*NET-SOC code the program lists first, against the same of theirs.
  A program with neither is not compared. The basis is chosen per program, the same for every
  metric (the credential only if it gives enough providers for the placement rate).
- **Non-disclosure.** For each metric, over the peers with a value: nothing unless they come
  from at least `min_providers` (default 3) different providers; then the median; the quartiles
  (25th and 75th percentiles by the inclusive method, as stats.percentile's) only from `2 * min_providers`
  providers. With fewer peers the median and quartiles would be the peers' own figures (with
  three values the median and both inclusive quartiles give all three back). No peer's name,
  provider or figure is ever given; the count of peers only once the group is large enough.

A provider sees its own programs (suppressed as its credential outcomes when 1 to `threshold`
people) beside their groups; an operator sees every program with its provider and name.
"""

from __future__ import annotations

import statistics
from typing import Any

from services.outcomes.reports.credentials import (
    Credentials,
    Enrollment,
    Inputs,
    Program,
    credentials_of,
    figures,
    seen,
    shared_with,
)
from services.outcomes.reports.good_jobs import GoodJobPolicy
from services.outcomes.reports.suppression import THRESHOLD

DEFINITIONS = "docs/transparency.md#peer-benchmarks"
METRICS = ("completion_rate", "credential_attainment", "placement_rate", "good_job_rate", "median_days_to_placement")
MIN_PROVIDERS = 3
CREDENTIAL, FAMILY = "credential", "occupation_family"


def family(program: Program) -> str | None:
    """The occupation family: the first two digits of the first O*NET-SOC code listed."""
    return program.onet_soc_codes[0][:2] if program.onet_soc_codes else None


def program_figures(inputs: Inputs, policy: GoodJobPolicy) -> dict[str, dict[str, Any]]:
    """Every registered program's figures as its own provider's report counts them."""
    by_program: dict[str, list[Enrollment]] = {}
    for e in inputs.enrollments:
        by_program.setdefault(e.record.program, []).append(e)
    visible = {
        provider: seen(
            inputs.referrals, provider, shared_with(e for e in inputs.enrollments if e.record.provider == provider)
        )
        for provider in {p.provider for p in inputs.programs}
    }
    out = {}
    for p in inputs.programs:
        mine = [e for e in by_program.get(p.program_id, []) if e.record.provider == p.provider]
        out[p.program_id] = figures(mine, visible[p.provider], policy)
    return out


def _stat(values: list[float]) -> float:
    return round(float(statistics.median(values)), 4)


def statistic(peers: list[tuple[Program, dict[str, Any]]], metric: str, min_providers: int) -> dict[str, Any]:
    """The group's median (and quartiles) of one metric under the non-disclosure rule."""
    held = [(p, f[metric]) for p, f in peers if f[metric] is not None]
    providers = len({p.provider for p, _ in held})
    if providers < min_providers:
        return {
            "peer_programs": None,
            "peer_providers": None,
            "median": None,
            "p25": None,
            "p75": None,
            "withheld": f"fewer than {min_providers} other providers",
        }
    values = [v for _, v in held]
    quartiles = providers >= 2 * min_providers
    # The inclusive method, as stats.percentile (which rounds to cents: these are rates and days).
    p25, _, p75 = statistics.quantiles(values, n=4, method="inclusive") if quartiles else (None, None, None)
    return {
        "peer_programs": len(values),
        "peer_providers": providers,
        "median": _stat(values),
        "p25": round(p25, 4) if quartiles else None,
        "p75": round(p75, 4) if quartiles else None,
        "withheld": None if quartiles else f"quartiles need {2 * min_providers} other providers",
    }


def _group(
    program: Program, peers: list[tuple[Program, dict]], creds: Credentials, min_providers: int
) -> tuple[str | None, str | None, list[tuple[Program, dict]]]:
    """(basis, label, peers) of a program's comparison group."""
    if program.credential_name:
        key = creds.key(program.credential_name, program.credential_ctid)
        same = [
            (p, f) for p, f in peers if p.credential_name and creds.key(p.credential_name, p.credential_ctid) == key
        ]
        if statistic(same, "placement_rate", min_providers)["median"] is not None:
            return CREDENTIAL, key, same
    fam = family(program)
    if fam is None:
        return None, None, []
    return FAMILY, fam, [(p, f) for p, f in peers if family(p) == fam]


def benchmarks(
    inputs: Inputs,
    policy: GoodJobPolicy,
    provider: str | None = None,
    threshold: int = THRESHOLD,
    min_providers: int = MIN_PROVIDERS,
    suppress: bool | None = None,
) -> dict[str, Any]:
    """The benchmark rows `provider` may read (None: an operator, every program). A provider's
    own figures are suppressed when 1 to `threshold` people (`suppress` defaults to: a provider
    reads it)."""
    suppress = provider is not None if suppress is None else suppress
    creds = credentials_of(inputs)
    all_figures = program_figures(inputs, policy)
    rows = []
    for program in sorted(inputs.programs, key=lambda p: (p.provider, p.program_id)):
        if provider is not None and program.provider != provider:
            continue
        peers = [
            (p, all_figures[p.program_id])
            for p in inputs.programs
            if p.provider != program.provider and all_figures[p.program_id]["participants"] > threshold
        ]
        basis, label, group = _group(program, peers, creds, min_providers)
        own = all_figures[program.program_id]
        hidden = suppress and 1 <= own["participants"] <= threshold
        rows.append(
            {
                "program": program.program_id,
                "name": program.name,
                "provider": program.provider,
                "participants": None if hidden else own["participants"],
                "suppressed": hidden,
                "basis": basis,
                "group": label,
                "metrics": [
                    {"metric": m, "value": None if hidden else own[m], **statistic(group, m, min_providers)}
                    for m in METRICS
                ],
            }
        )
    return {
        "programs": rows,
        "metrics": list(METRICS),
        "min_providers": min_providers,
        "peer_min_participants": threshold + 1,
        "adjusted": False,
        "definitions": DEFINITIONS,
    }
