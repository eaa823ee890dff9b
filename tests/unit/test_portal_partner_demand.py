"""The partner's funnel page shows what outcomes withholds as a dash, never a number of its own;
the hiring standards' words the page translates are the contracts' (docs/portals.md, "A
referring partner's screens")."""

from __future__ import annotations

import re
import typing

from contracts import events
from services.outcomes import pipeline
from services.portal import i18n, web
from services.portal.operators import STAGES
from services.portal.pages_partner_demand import HIRING_STAGES, INTERVIEW_FORMATS


def figures(html: str, row: str) -> list[str]:
    found = re.search(rf'<tr data-stage="{row}">.*?</tr>', html, re.S)
    assert found is not None
    return re.findall(r'<td class="num"[^>]*>([^<]*)</td>', found.group(0))


def render(funnel: dict[str, typing.Any]) -> str:
    return web.TEMPLATES.get_template("partner_funnel.html").render(
        _=i18n.gettext_for("en"),
        lang="en",
        member=None,
        user=None,
        csrf_token="x",
        path="/funnel",
        funnel=funnel,
        stages=STAGES,
    )


def test_a_suppressed_summary_and_a_withheld_figure_read_as_a_dash() -> None:
    ours = pipeline.empty()
    ours["referrals"]["stages"]["referred"] = 4
    ours["people"]["stages"]["referred"] = None  # a figure outcomes withholds
    funnel = {
        "stages": list(pipeline.STAGES),
        "outcomes": list(pipeline.OUTCOMES),
        "total": ours,
        "coalition": {"suppressed": True, "referrals": None, "people": None},
    }
    assert figures(render(funnel), "referred") == ["4", "—", "—", "—"]
    funnel["coalition"] = ours
    assert figures(render(funnel), "referred") == ["4", "—", "4", "—"]


def test_the_hiring_standards_words_are_the_contracts() -> None:
    assert set(HIRING_STAGES) == {s.value for s in events.InterviewStage}
    assert set(INTERVIEW_FORMATS) == {f.value for f in events.HiringFormat}
