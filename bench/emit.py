"""CPU per emitted event: the envelope built and validated, then serialized (`build(...)
.to_bytes()` with a uuid4, what `Context.emit_many` did until 2026-11-30) against the envelope
written straight from the payload (`contracts.registry.encode`, what it does now).

The payloads are the golden fixtures of the newest version of each type (routing's three by
default). The two paths run in alternation, several rounds, and the best round of each is
reported, in microseconds of this process's CPU time per event (which travels under load
better than wall time):

    PYTHONPATH=$PWD .venv/bin/python bench/emit.py [--types all] [--number 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
import uuid
from pathlib import Path

from contracts import PAYLOADS, build
from contracts.registry import Envelopes, encode, latest_types

FIXTURES = Path(__file__).resolve().parent.parent / "contracts" / "fixtures"
ROUTING = ("referral.routed.v1", "referral.unmatched.v1", "skills.gap_observed.v2")
SOURCE = "/talentloop/routing"
CORRELATION = "0f8e4cbb-8c7e-4a57-9b0d-3d0d0a7c1f23"


def example(event_type: str):
    model = PAYLOADS[event_type]
    doc = json.loads((FIXTURES / model.family() / f"{model.schema_version}.json").read_text())
    return model.model_validate(doc["data"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", default="routing", help="'routing', 'all', or comma-separated event types")
    parser.add_argument("--number", type=int, default=20_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    types = {"routing": list(ROUTING), "all": latest_types()}.get(args.types) or args.types.split(",")

    def validated(p):
        return build(p, source=SOURCE, correlation_id=CORRELATION, causation_id=CORRELATION,
                     event_id=uuid.uuid4()).to_bytes()

    def written(p):
        return encode(p, source=SOURCE, correlation_id=CORRELATION, causation_id=CORRELATION).value

    def written_and_read_back(p):
        return Envelopes([encode(p, source=SOURCE, correlation_id=CORRELATION, causation_id=CORRELATION)])[0]

    print(f"{'type':28} {'bytes':>6} {'validated':>10} {'written':>8} {'+envelope':>10}  us CPU per event")
    results = {}
    for event_type in types:
        payload = example(event_type)
        best = {"validated": float("inf"), "written": float("inf"), "+envelope": float("inf")}
        for _ in range(args.rounds):
            for name, fn in (("validated", validated), ("written", written), ("+envelope", written_and_read_back)):
                t = timeit.timeit(lambda fn=fn, payload=payload: fn(payload), number=args.number, timer=time.process_time)
                best[name] = min(best[name], t / args.number * 1e6)
        results[event_type] = best
        print(f"{event_type:28} {len(written(payload)):>6} {best['validated']:>10.1f} {best['written']:>8.1f}"
              f" {best['+envelope']:>10.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
