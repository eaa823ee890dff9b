"""Intake's application: the use cases every entry path shares (submit, update, withdraw,
erase), the one way referrals enter the network and change.

Every path (our JSON API, a partner's webhook, a CSV row, a record on the partner's
Kafka topic) ends in `submit` with validated referrals, in the caller's
transaction: candidates are resolved by keyed hashes, duplicates are found under
advisory locks (so two concurrent requests cannot both accept the same person for the
same target), personal data is sealed with the candidate's key, and the referral and its
`referral.submitted` event commit together (outbox). The rules themselves are in
`domain` (no I/O, no clock), the statements in `store`.

Every use case takes a `Context` of the caller's transaction, as in every other service
(plumbing/context.py): `ctx.conn`, the vault of candidate keys (`ctx.vault`), the clock
(`ctx.now()`), the identity-hash secret (`ctx.settings.pseudonym_key`) and the outbox
emitter (`ctx.emit`, `ctx.emit_many`); none is looked up. Routes bind one with
`plumbing.service.context_of`, the group commit, the CSV import and the Kafka consumer with
`Deps.bind` on the connection of their transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts import events
from contracts.registry import Encoded
from plumbing import scrub
from plumbing.context import Context, Outgoing
from plumbing.vault import CandidateKey
from services.intake import domain, store, training


@dataclass(frozen=True)
class Accepted:
    referral_id: str
    candidate_id: str  # the network's pseudonym of the person: never told to a partner
    partner_candidate_id: str  # the partner's own id of the person: what it is told
    unknown_skills: list[str]


@dataclass(frozen=True)
class Duplicate:
    existing_referral_id: str
    code: str  # duplicate-referral: same person and target; external-id-in-use: the reference names someone else

    @property
    def message(self) -> str:
        if self.code == "external-id-in-use":
            return "this external_id already names another person's active referral"
        return "this person is already referred by you for the same target"


@dataclass(frozen=True)
class Submission:
    """One referral to submit: whose, by which entry path, under which correlation id."""

    partner_id: str
    referral: domain.ReferralIn
    entry: str
    correlation_id: str
    # The (traceparent, tracestate) its event continues, when submitted apart from the
    # request that made it (a group of requests); None: the trace current at submit.
    trace: tuple[str | None, str | None] | None = None


@dataclass(frozen=True)
class Erasure:
    """What the requester of an erasure is told: a partner, of its own referrals only; an
    operator, of the person's."""

    candidate_id: str
    referrals: int
    erased_at: datetime


class NotFound(Exception):
    pass


class Conflict(Exception):
    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


def identity_secret(ctx: Context) -> bytes:
    """The secret of identity hashes (intake requires the setting at start)."""
    return (ctx.settings.pseudonym_key or "").encode()


async def submit(
    ctx: Context,
    partner_id: str,
    referrals: list[domain.ReferralIn],
    *,
    entry: str,
    correlation_id: str | None = None,
    correlation_ids: list[str] | None = None,
) -> list[Accepted | Duplicate]:
    """Accept each referral or name the existing one it duplicates, in input order.

    One correlation id for all, or one per referral (records of a Kafka batch)."""
    ids = correlation_ids if correlation_ids is not None else [correlation_id or ""] * len(referrals)
    return await submit_all(ctx, [Submission(partner_id, r, entry, c) for r, c in zip(referrals, ids, strict=True)])


async def submit_all(ctx: Context, items: list[Submission]) -> list[Accepted | Duplicate]:
    """`submit` for submissions of any partners (concurrent API requests applied together):
    a few statements for all of them, whatever their number. A later item sees an earlier
    one, as it would in a later transaction."""
    if not items:
        return []
    conn = ctx.conn
    secret = identity_secret(ctx)
    identities = [domain.identity_hashes(i.referral.candidate, secret) for i in items]
    external = [(i.partner_id, i.referral.external_id) for i in items if i.referral.external_id]
    # Locks, in the one order every intake transaction takes them (so none waits in a cycle):
    # identity hashes (`resolve_candidates`), then external ids and candidates (`store.lock`),
    # then rows. The candidates' locks, which an erasure of them takes too
    # (`store.lock_for_erasure`), are taken with the external ids; a statement after them
    # sees an erasure committed meanwhile. A candidate erased so is not brought back (the
    # submission re-created the destroyed key, and its referral stayed readable but answered
    # "already erased"): the links this transaction made to them are dropped and the person
    # resolved again, to a fresh candidate with a fresh key that a later erasure can erase.
    while True:
        candidates = await store.resolve_candidates(conn, identities)
        await store.lock(conn, [f"{p}|ext|{e}" for p, e in external] + [store.candidate_lock(c) for c in candidates])
        erased = await store.erased_among(conn, sorted(set(candidates)))
        if not erased:
            break
        await store.unlink_erased(conn, sorted({h for hs in identities for h in hs}), erased)
    # The partner's id of each person, from its referrals of the same network candidate only:
    # so any two submissions that could share one share the candidate's lock, taken above,
    # and this statement sees what the earlier of them committed (no lock of its own needed).
    held = await store.held_by(conn, [i.partner_id for i in items], candidates, external)
    chosen = set(candidates)
    theirs = domain.partner_candidates(
        [(i.partner_id, hs) for i, hs in zip(items, identities, strict=True)],
        [(r["partner_id"], r["partner_candidate_id"], r["identity_hashes"] or [])
         for r in sorted(held, key=lambda r: r["submitted_at"]) if r["candidate_id"] in chosen],
    )
    # Duplicates as the partner knows the person (its own id of them), so the answer tells it
    # nothing the network linked from other partners' referrals.
    triples = [(i.partner_id, t, i.referral.target_key()) for i, t in zip(items, theirs, strict=True)]
    by_external: dict[tuple[str, str], tuple[str, str]] = {}
    by_triple: dict[tuple[str, str, str], str] = {}
    for row in held:
        if row["status"] != "active":
            continue
        if row["external_id"]:
            by_external[(row["partner_id"], row["external_id"])] = (row["referral_id"], row["partner_candidate_id"])
        by_triple[(row["partner_id"], row["partner_candidate_id"], row["target_key"])] = row["referral_id"]
    keys = await ctx.vault.keys(conn, candidates, create=True)

    results: list[Accepted | Duplicate] = []
    new: list[tuple[store.NewReferral, str, tuple[str | None, str | None] | None]] = []
    for item, candidate_id, known_as, hashes, triple in zip(items, candidates, theirs, identities, triples, strict=True):
        referral = item.referral
        ext = (item.partner_id, referral.external_id) if referral.external_id else None
        found = _duplicate(known_as, triple, ext, by_external, by_triple)
        if found:
            results.append(found)
            continue
        referral_id = domain.new_referral_id()
        row = _new_row(referral, referral_id, item.partner_id, candidate_id, item.entry, keys[candidate_id], known_as, hashes)
        new.append((row, item.correlation_id, item.trace))
        if ext:  # later items see this one
            by_external[ext] = (referral_id, known_as)
        by_triple[triple] = referral_id
        results.append(Accepted(referral_id, candidate_id, known_as, domain.unknown_skills(row.submission.skills)))
    at = ctx.now()
    # One outbox statement for the group, each row with its request's trace context; the
    # referrals' rows keep the events' payloads as the outbox wrote them (written once).
    written = await ctx.emit_written([Outgoing(row.submission, cid, time=at, trace=trace) for row, cid, trace in new])
    await store.insert_referrals(conn, [r for r, _, _ in new], [_payload_json(e) for e in written])
    return results


def _payload_json(encoded: Encoded) -> str:
    """The event's payload as its record value holds it (written anew when it cannot say where)."""
    if encoded.data_at:
        return encoded.value[encoded.data_at : -1].decode()
    return encoded.payload.model_dump_json()


def _duplicate(
    known_as: str,
    triple: tuple[str, str, str],
    external: tuple[str, str] | None,
    by_external: dict[tuple[str, str], tuple[str, str]],
    by_triple: dict[tuple[str, str, str], str],
) -> Duplicate | None:
    if external and external in by_external:
        existing, whose = by_external[external]
        return Duplicate(existing, "duplicate-referral" if whose == known_as else "external-id-in-use")
    if triple in by_triple:
        return Duplicate(by_triple[triple], "duplicate-referral")
    return None


# --- after submission ------------------------------------------------------------------


async def current(ctx: Context, row: asyncpg.Record) -> domain.ReferralIn:
    """The referral as it now stands, personal data opened with the candidate's key."""
    key = await ctx.vault.key(ctx.conn, row["candidate_id"])
    if key is None:
        raise Conflict("the candidate's personal data was erased", "erased")
    submission = events.ReferralSubmittedV2.model_validate_json(row["submission"])
    demographics = store.sealed(row["demographics_sealed"])
    return domain.ReferralIn.model_construct(
        external_id=row["external_id"],
        candidate=domain.Contact.model_construct(**key.open(store.sealed(row["contact_sealed"]), "contact")),
        demographics=domain.Demographics(**key.open(demographics, "demographics")) if demographics else None,
        skills=[s.text for s in submission.skills],
        credentials=list(submission.credentials),
        training=submission.training,
        target_onet_soc_code=submission.target_onet_soc_code,
        target_opening_id=submission.target_opening_id,
        highest_degree=submission.highest_degree,
        location=submission.location,
        preferred_language=submission.preferred_language,
        consent=domain.ConsentIn.model_construct(**submission.consent.model_dump()),
    )


async def update(
    ctx: Context, partner_id: str, referral_id: str, change: domain.Profile, correlation_id: str
) -> list[str]:
    """Apply the partner's change; publish `referral.updated` when anything visible changed."""
    conn = ctx.conn
    secret = identity_secret(ctx)
    new_identities = domain.identity_hashes(change.candidate, secret) if change.candidate is not None else []
    row = await store.find(conn, referral_id, partner_id)
    if row is None:
        raise NotFound(referral_id)
    if row["status"] != "active":
        raise Conflict(f"the referral is {row['status']}", row["status"])
    # The locks in the order a submission takes them (identity hashes, then the candidate),
    # and only then the row: holding the row while waiting for a hash a submission had
    # linked, while that submission waits for the candidate an erasure holds and the erasure
    # for the row, was a deadlock.
    await store.lock_identities(conn, new_identities)
    await store.lock(conn, [store.candidate_lock(row["candidate_id"])])
    row = await _active(conn, referral_id, partner_id)
    before = await current(ctx, row)
    after, changed = domain.apply_update(before, change)
    key = await ctx.vault.key(conn, row["candidate_id"])
    assert key is not None  # current() checked
    if new_identities:
        # The person may now also be reached by a new e-mail or phone: linked to this
        # candidate (so the duplicate check and their erasure find it). One that already
        # identifies another candidate stays theirs: a partner must not be able to take
        # someone's identity over by editing a referral.
        await store.link_identities(conn, row["candidate_id"], new_identities)
    sealed = _new_row(
        after, referral_id, partner_id, row["candidate_id"], row["entry"], key, row["partner_candidate_id"],
        domain.identity_hashes(after.candidate, secret),
    )
    await store.save_update(conn, referral_id, sealed)
    if changed:
        event = domain.updated_event(after, referral_id, partner_id, row["candidate_id"], changed, sealed.contact_sealed)
        await ctx.emit(event, correlation_id=correlation_id)
    return changed


async def withdraw(
    ctx: Context, partner_id: str, referral_id: str, reason: events.WithdrawalReason, correlation_id: str
) -> datetime:
    row = await _active(ctx.conn, referral_id, partner_id)
    at = ctx.now()
    await store.withdraw(ctx.conn, referral_id, reason.value, at)
    event = events.ReferralWithdrawnV1(
        referral_id=referral_id, partner_id=partner_id, candidate_id=row["candidate_id"], reason=reason, withdrawn_at=at
    )
    await ctx.emit(event, correlation_id=correlation_id)
    return at


async def erase(
    ctx: Context, candidate_id: str, requested_by: events.ErasureRequester, principal: str, correlation_id: str
) -> events.CandidateErasedV1:
    """Forget the person everywhere (an operator's action): destroy their key, unlink their
    identities, withdraw every partner's open referrals of them, strip them from the rows
    kept for operations, and tell every service to drop what it holds."""
    conn = ctx.conn
    await store.lock_for_erasure(conn, candidate_id)
    rows = await store.referrals_of(conn, candidate_id)
    enrollments = await store.enrollments_of(conn, candidate_id)
    if not rows and not enrollments:
        raise NotFound(candidate_id)
    now = ctx.now()
    await _withdraw_for_erasure(ctx, candidate_id, rows, now, correlation_id)
    await ctx.vault.destroy(conn, candidate_id)
    await store.erase(conn, candidate_id, requested_by.value, principal, len(rows))
    await store.erase_enrollments(conn, candidate_id=candidate_id)
    referral_ids = [r["referral_id"] for r in rows]
    enrollment_ids = [r["enrollment_id"] for r in enrollments]
    await scrub.scrub(conn, referral_ids + enrollment_ids, candidate_id)
    erased = events.CandidateErasedV1(
        candidate_id=candidate_id,
        referral_ids=referral_ids,
        requested_by=requested_by,
        erased_at=now,
        enrollment_ids=enrollment_ids,
    )
    await ctx.emit(erased, correlation_id=correlation_id)
    return erased


async def erase_person(
    ctx: Context,
    *,
    referral_id: str | None = None,
    candidate_id: str | None = None,
    principal: str,
    correlation_id: str,
) -> Erasure:
    """An operator erases the person network-wide, named by any partner's referral of them or
    by their candidate id. Repeating it answers the same (the recorded erasure), also when
    another request erased them while this one waited; `NotFound("referral")` or
    `NotFound("candidate")` when there is no such thing, `Conflict` for a referral already
    erased (its link to the person is gone: name the candidate)."""
    if referral_id is not None:
        row = await store.candidate_of(ctx.conn, referral_id, None)
        if row is None:
            raise NotFound("referral")
        if row["status"] == "erased":
            raise Conflict("the referral was erased already", "erased")
        candidate_id = row["candidate_id"]
    assert candidate_id is not None
    done = await store.erasure(ctx.conn, candidate_id)
    if done is None:
        try:
            await erase(ctx, candidate_id, events.ErasureRequester.operator, principal, correlation_id)
        except NotFound:
            pass  # erased by another request while this one waited, or never known
        done = await store.erasure(ctx.conn, candidate_id)
        if done is None:
            raise NotFound("candidate")
    return Erasure(candidate_id, done["referral_count"], done["erased_at"])


async def erase_own(
    ctx: Context,
    partner_id: str,
    referral_id: str | None,
    principal: str,
    correlation_id: str,
    *,
    enrollment_id: str | None = None,
) -> Erasure:
    """A partner erases what it holds about the person its referral (or, a training provider,
    its enrollment: `enrollment_id`) names: every one of its enrollments of them and every one of its
    own referrals of them (sealed contact and demographics, profile, its reference, their
    link to the candidate), withdrawn where still open. "Of them" as the partner knows the
    person (its own id of them: `domain.partner_candidates`), so the count it is told says
    nothing the network linked from other partners' referrals. Other partners' referrals,
    and the candidate's key they are sealed with, stay; `candidate.erased` names the partner
    and only its referrals, so every service drops those and nothing else. When the partner
    held the person's only referrals, nothing is left to keep: the person is erased
    network-wide (the answer is the same either way, so it tells nothing of others)."""
    conn = ctx.conn
    if enrollment_id is not None:
        row = await store.candidate_of_enrollment(conn, enrollment_id, partner_id)
    else:
        assert referral_id is not None
        row = await store.candidate_of(conn, referral_id, partner_id)
    if row is None:
        raise NotFound(enrollment_id or referral_id)
    if row["status"] == "erased":
        raise Conflict("the referral was erased already", "erased")
    known_as = row["partner_candidate_id"]
    candidates = await store.candidates_of(conn, partner_id, known_as)
    # The person's identity hashes are locked before the candidate (the one lock order): a
    # submission that found the person by a hash this erasure may unlink has committed, and
    # its referral is among those kept, or waits, and finds the hash as this erasure left it.
    linked = {c: await store.identities_of(conn, c) for c in candidates}
    await store.lock_identities(conn, sorted({h for hs in linked.values() for h in hs}))
    await store.lock(conn, [store.candidate_lock(c) for c in candidates])
    now = ctx.now()
    count = 0
    for candidate_id in candidates:
        count += await _erase_own_of(ctx, partner_id, known_as, candidate_id, linked[candidate_id], principal, now,
                                     correlation_id)
    if count == 0:  # erased by another request while this one waited for the locks
        raise Conflict("the referral was erased already", "erased")
    return Erasure(known_as, count, now)


async def _erase_own_of(
    ctx: Context,
    partner_id: str,
    known_as: str,
    candidate_id: str,
    linked: list[str],
    principal: str,
    now: datetime,
    correlation_id: str,
) -> int:
    """`erase_own` for the partner's referrals of one network candidate (the caller holds
    the locks); how many it erased."""
    conn = ctx.conn
    rows = await store.referrals_of(conn, candidate_id)
    enrollments = await store.enrollments_of(conn, candidate_id)

    def mine(r: asyncpg.Record) -> bool:
        return r["partner_id"] == partner_id and r["partner_candidate_id"] == known_as

    own, own_enrollments = [r for r in rows if mine(r)], [r for r in enrollments if mine(r)]
    if not own and not own_enrollments:
        return 0
    if len(own) == len(rows) and len(own_enrollments) == len(enrollments):
        await erase(ctx, candidate_id, events.ErasureRequester.partner, principal, correlation_id)
        return len(own) + len(own_enrollments)
    await _withdraw_for_erasure(ctx, candidate_id, own, now, correlation_id)
    referral_ids = [r["referral_id"] for r in own]
    enrollment_ids = [r["enrollment_id"] for r in own_enrollments]
    # The partner's erasure record counts its enrollments of the person with its referrals.
    await store.erase_referrals(conn, partner_id, referral_ids + enrollment_ids, principal, now)
    await store.erase_enrollments(conn, enrollment_ids=enrollment_ids)
    # The person stays identified by what the remaining referrals say of them (an e-mail
    # or phone only this partner supplied no longer leads to them).
    key = await ctx.vault.key(conn, candidate_id)
    if key is not None:
        secret = identity_secret(ctx)
        erased_ids = {r["referral_id"] for r in own}
        kept = [r for r in rows if r["referral_id"] not in erased_ids and r["contact_sealed"]]
        kept += [r for r in enrollments if r["enrollment_id"] not in enrollment_ids and r["contact_sealed"]]
        hashes = {
            h
            for r in kept
            for h in domain.identity_hashes(
                domain.Contact.model_construct(**key.open(store.sealed(r["contact_sealed"]), "contact")), secret
            )
        }
        # Of hashes linked since they were read (by an update or a submission this erasure
        # waited for), only those nobody holds now: a submission holding one may have found
        # the person by it and be waiting for this erasure (it is then the candidate's still).
        since = sorted(set(await store.identities_of(conn, candidate_id)) - set(linked) - hashes)
        free = await store.try_lock_identities(conn, since) if since else set()
        await store.unlink_identities(conn, candidate_id, sorted((set(linked) | free) - hashes))
    await scrub.scrub(conn, referral_ids + enrollment_ids)
    erased = events.CandidateErasedV1(
        candidate_id=candidate_id,
        referral_ids=referral_ids,
        requested_by=events.ErasureRequester.partner,
        erased_at=now,
        partner_id=partner_id,
        enrollment_ids=enrollment_ids,
    )
    await ctx.emit(erased, correlation_id=correlation_id)
    return len(own) + len(own_enrollments)


async def _withdraw_for_erasure(
    ctx: Context, candidate_id: str, rows: list[asyncpg.Record], at: datetime, correlation_id: str
) -> None:
    withdrawn = [
        Outgoing(
            events.ReferralWithdrawnV1(
                referral_id=row["referral_id"],
                partner_id=row["partner_id"],
                candidate_id=candidate_id,
                reason=events.WithdrawalReason.candidate_erased,
                withdrawn_at=at,
            ),
            correlation_id,
        )
        for row in rows
        if row["status"] == "active"
    ]
    await ctx.emit_many(withdrawn)


async def _active(conn: asyncpg.Connection, referral_id: str, partner_id: str) -> asyncpg.Record:
    row = await store.find(conn, referral_id, partner_id, for_update=True)
    if row is None:
        raise NotFound(referral_id)
    if row["status"] != "active":
        raise Conflict(f"the referral is {row['status']}", row["status"])
    return row


def _new_row(
    referral: domain.ReferralIn,
    referral_id: str,
    partner_id: str,
    candidate_id: str,
    entry: str,
    key: CandidateKey,
    partner_candidate_id: str,
    identity_hashes: list[str],
) -> store.NewReferral:
    contact = key.seal(referral.candidate.model_dump(), "contact")
    demographics = key.seal(referral.demographics.model_dump(mode="json"), "demographics") if referral.demographics else None
    return store.NewReferral(
        referral_id=referral_id,
        partner_id=partner_id,
        external_id=referral.external_id,
        candidate_id=candidate_id,
        partner_candidate_id=partner_candidate_id,
        identity_hashes=identity_hashes,
        target_key=referral.target_key(),
        entry=entry,
        contact_sealed=contact,
        demographics_sealed=demographics,
        submission=domain.submitted(referral, referral_id, partner_id, candidate_id, contact, demographics),
    )


# --- training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingReported:
    """A training record applied: the enrollment, the provider's own id of the person, and
    which events it added (none when it stated nothing new)."""

    enrollment_id: str
    partner_candidate_id: str
    events: list[str]


@dataclass(frozen=True)
class TrainingProblem:
    """A training record refused for what intake holds (its own fields were valid)."""

    code: str
    message: str
    loc: tuple[str, ...]


async def report_program(
    ctx: Context, partner_id: str, program: training.ProgramIn, correlation_id: str
) -> tuple[bool, str | None]:
    """Register or update the provider's program: (created, the event type published or None
    when nothing changed). `Conflict` when another provider holds the id."""
    row = await store.program(ctx.conn, program.program_id, for_update=True)
    if row is not None and row["partner_id"] != partner_id:
        raise Conflict("another provider's program has this program_id", "taken")
    previous = training.ProgramIn.model_validate_json(row["program"]) if row is not None else None
    event = training.program_event(previous, program, partner_id)
    if event is not None:
        await store.save_program(ctx.conn, partner_id, program.program_id, program.model_dump_json())
        await ctx.emit(event, correlation_id=correlation_id)
    return row is None, event.event_type if event else None


async def report_training(
    ctx: Context,
    partner_id: str,
    records: list[training.TrainingRecordIn],
    *,
    entry: str,
    correlation_id: str = "",
    correlation_ids: list[str] | None = None,
) -> list[TrainingReported | TrainingProblem]:
    """Apply a training provider's records, in input order, on the referrals' identity path:
    the person is the network's candidate their e-mail or phone already names (so their
    training and referrals join), the provider is told its own id of them (the one its
    referrals of them got too: `store.held_by` reads enrollments), and contact and
    demographics are sealed with the candidate's key. Each record gives only the events of
    what it adds (`training.training_events`), so sending it again changes nothing. One
    correlation id for all, or one per record (records of a Kafka batch)."""
    if not records:
        return []
    correlations = correlation_ids if correlation_ids is not None else [correlation_id] * len(records)
    conn = ctx.conn
    secret = identity_secret(ctx)
    identities = [domain.identity_hashes(r.candidate, secret) for r in records]
    # The lock order of `submit_all`: identity hashes, then references and candidates, then rows.
    while True:
        candidates = await store.resolve_candidates(conn, identities)
        await store.lock(
            conn,
            [f"{partner_id}|enr|{r.external_id or r.program_id}" for r in records]
            + [store.candidate_lock(c) for c in candidates],
        )
        erased = await store.erased_among(conn, sorted(set(candidates)))
        if not erased:
            break
        await store.unlink_erased(conn, sorted({h for hs in identities for h in hs}), erased)
    held = await store.held_by(conn, [partner_id], candidates, [])
    chosen = set(candidates)
    theirs = domain.partner_candidates(
        [(partner_id, hs) for hs in identities],
        [(r["partner_id"], r["partner_candidate_id"], r["identity_hashes"] or [])
         for r in sorted(held, key=lambda r: r["submitted_at"]) if r["candidate_id"] in chosen],
    )
    ours = await store.programs_of(conn, partner_id, [r.program_id for r in records])
    keys = [r.enrollment_key(t) for r, t in zip(records, theirs, strict=True)]
    existing = await store.enrollments_by_key(conn, partner_id, keys)
    vault_keys = await ctx.vault.keys(conn, candidates, create=True)
    results: list[TrainingReported | TrainingProblem] = []
    outgoing: list[Outgoing] = []
    at = ctx.now()
    states: dict[str, tuple[str, training.TrainingState | None]] = {
        k: (r["enrollment_id"], training.TrainingState.from_json(json.loads(r["state"]))) for k, r in existing.items()
    }
    owners = {k: (r["candidate_id"], r["program_id"]) for k, r in existing.items()}
    for record, candidate_id, known_as, hashes, key, correlation in zip(
        records, candidates, theirs, identities, keys, correlations, strict=True
    ):
        if record.program_id not in ours:
            results.append(TrainingProblem(
                "unknown-program", "register the program first (POST /v1/programs)", ("program_id",)))
            continue
        if key in owners and owners[key][0] != candidate_id:
            results.append(TrainingProblem(
                "external-id-in-use", "this external_id already names another person's enrollment", ("external_id",)))
            continue
        if key in owners and owners[key][1] != record.program_id:
            results.append(TrainingProblem(
                "program-changed", "this enrollment is in another program; report a new enrollment", ("program_id",)))
            continue
        enrollment_id, previous = states.get(key, (training.new_enrollment_id(), None))
        candidate_key = vault_keys[candidate_id]
        contact = candidate_key.seal(record.candidate.model_dump(), "contact")
        demographics = (
            candidate_key.seal(record.demographics.model_dump(mode="json"), "demographics") if record.demographics else None
        )
        who = training.Enrollment(enrollment_id, record.program_id, partner_id, candidate_id)
        try:
            state, out = training.training_events(previous, record, who, contact_sealed=contact, demographics_sealed=demographics)
        except training.TrainingRefused as refused:
            results.append(TrainingProblem(refused.code, str(refused), refused.loc))
            continue
        if out or previous is None:
            await store.save_enrollment(
                conn, enrollment_id=enrollment_id, partner_id=partner_id, program_id=record.program_id,
                enrollment_key=key, candidate_id=candidate_id, partner_candidate_id=known_as, identity_hashes=hashes,
                status=state.status.value, state=state.to_json(), entry=entry, contact_sealed=contact,
                demographics_sealed=demographics,
            )
        states[key], owners[key] = (enrollment_id, state), (candidate_id, record.program_id)
        outgoing += [Outgoing(e, correlation, time=at) for e in out]
        results.append(TrainingReported(enrollment_id, known_as, [e.event_type for e in out]))
    await ctx.emit_many(outgoing)
    return results
