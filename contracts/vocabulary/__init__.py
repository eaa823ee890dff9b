"""TalentLoop's reference vocabularies: tech skills with their aliases, and O*NET-SOC occupations.

Pure and offline: the data is the two YAML files packaged beside this module, read once,
lazily, on first use and cached. `skills()` is the skills vocabulary routing matches on
and intake maps partners' free text to; `occupations()` the O*NET-SOC 2019 occupations
the network routes to, each with the skill ids typical of it.

Lookup is forgiving about spelling but not about meaning. `normalize` casefolds (after
NFKC), and drops whitespace and the separators ".", "-", "_" and "/", so "Node.js",
"nodejs" and "node js" are one key; "+" and "#" are kept, so "C", "C#" and "C++" stay
three skills. A skill is found by its id, its name or any alias. Loading refuses a
vocabulary in which one key would lead to two skills.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "Occupation",
    "Skill",
    "SkillsVocabulary",
    "normalize",
    "occupations",
    "occupations_from_doc",
    "skills",
]

SKILL_ID = re.compile(r"^[a-z0-9][a-z0-9+#-]*$")
ONET_SOC_CODE = re.compile(r"^\d{2}-\d{4}\.\d{2}$")
# Whitespace, the four separators, and Unicode hyphens/dashes (U+2010..U+2015).
_SEPARATORS = re.compile(r"[\s._/\-\u2010-\u2015]+")


def normalize(text: str) -> str:
    """The lookup key of `text`: NFKC, casefolded, without whitespace or . - _ / ("+", "#" kept)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class Skill:
    id: str
    name: str
    category: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Occupation:
    code: str
    title: str
    typical_skills: tuple[str, ...]


class SkillsVocabulary:
    """A validated, versioned set of skills and the index from every spelling to its skill."""

    version: str
    source: str
    skills: dict[str, Skill]

    def __init__(self, version: str, skills: Iterable[Skill], source: str = "") -> None:
        if not isinstance(version, str) or not version.strip():
            raise ValueError(f"skills vocabulary: version must be a non-empty string, got {version!r}")
        self.version = version
        self.source = source
        self.skills = {}
        self._index: dict[str, str] = {}  # normalized key -> skill id
        owner_of: dict[str, str] = {}  # normalized key -> the text that claimed it, for messages
        for skill in skills:
            if not SKILL_ID.fullmatch(skill.id):
                raise ValueError(f"skill {skill.id!r}: id must match {SKILL_ID.pattern}")
            if skill.id in self.skills:
                raise ValueError(f"skill {skill.id!r}: duplicate id")
            if not SKILL_ID.fullmatch(skill.category):
                raise ValueError(f"skill {skill.id!r}: category {skill.category!r} must match {SKILL_ID.pattern}")
            self.skills[skill.id] = skill
            for kind, text in [("id", skill.id), ("name", skill.name), *(("alias", a) for a in skill.aliases)]:
                key = normalize(text)
                if not key:
                    raise ValueError(f"skill {skill.id!r}: {kind} {text!r} is empty once normalized")
                other = self._index.get(key)
                if other is None:
                    self._index[key] = skill.id
                    owner_of[key] = text
                elif other != skill.id:
                    raise ValueError(
                        f"skill {skill.id!r}: {kind} {text!r} collides with {owner_of[key]!r} of skill "
                        f"{other!r} (both normalize to {key!r})"
                    )

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> SkillsVocabulary:
        """Build and validate a vocabulary from a parsed skills.yaml document."""
        if not isinstance(doc, Mapping):
            raise ValueError("skills vocabulary: the document must be a mapping")
        entries = doc.get("skills")
        if not isinstance(entries, list) or not entries:
            raise ValueError("skills vocabulary: 'skills' must be a non-empty list")
        source = doc.get("source", "")
        if not isinstance(source, str):
            raise ValueError("skills vocabulary: 'source' must be a string")
        skills = (_skill(i, entry) for i, entry in enumerate(entries))
        return cls(doc.get("version"), skills, source=source.strip())  # type: ignore[arg-type]

    normalize = staticmethod(normalize)

    def lookup(self, text: str) -> Skill | None:
        """The skill whose id, name or alias `text` is (up to normalization), else None."""
        found = self._index.get(normalize(text)) if isinstance(text, str) else None
        return self.skills[found] if found else None

    def categories(self) -> dict[str, list[str]]:
        """Category -> its skill ids, both in the order the vocabulary lists them."""
        out: dict[str, list[str]] = {}
        for skill in self.skills.values():
            out.setdefault(skill.category, []).append(skill.id)
        return out

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self.skills

    def __len__(self) -> int:
        return len(self.skills)

    def __repr__(self) -> str:
        return f"SkillsVocabulary(version={self.version!r}, skills={len(self.skills)})"


def _skill(i: int, entry: Any) -> Skill:
    where = f"skill #{i}" + (f" ({entry.get('id')!r})" if isinstance(entry, Mapping) else "")
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be a mapping with id, name, category, aliases")
    for field in ("id", "name", "category"):
        if not isinstance(entry.get(field), str) or not entry[field].strip():
            raise ValueError(f"{where}: {field} must be a non-empty string")
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list):
        raise ValueError(f"{where}: aliases must be a list")
    for alias in aliases:
        if not isinstance(alias, str):  # e.g. YAML read `yes` as a bool or `2019` as an int
            raise ValueError(f"{where}: alias {alias!r} must be a string (quote it)")
    return Skill(
        id=entry["id"], name=entry["name"].strip(), category=entry["category"], aliases=tuple(a.strip() for a in aliases)
    )


def occupations_from_doc(doc: Mapping[str, Any], vocabulary: SkillsVocabulary) -> dict[str, Occupation]:
    """Build and validate the occupations (code -> Occupation) of a parsed occupations.yaml."""
    if not isinstance(doc, Mapping):
        raise ValueError("occupations: the document must be a mapping")
    entries = doc.get("occupations")
    if not isinstance(entries, list) or not entries:
        raise ValueError("occupations: 'occupations' must be a non-empty list")
    out: dict[str, Occupation] = {}
    for i, entry in enumerate(entries):
        code = entry.get("code") if isinstance(entry, Mapping) else None
        where = f"occupation #{i} ({code!r})"
        if not isinstance(code, str) or not ONET_SOC_CODE.fullmatch(code):
            raise ValueError(f"{where}: code must be an O*NET-SOC code like 15-1252.00")
        if code in out:
            raise ValueError(f"{where}: duplicate code")
        title = entry.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"{where}: title must be a non-empty string")
        typical = entry.get("typical_skills") or []
        if not isinstance(typical, list):
            raise ValueError(f"{where}: typical_skills must be a list of skill ids")
        for skill_id in typical:
            if skill_id not in vocabulary.skills:
                raise ValueError(f"{where}: typical skill {skill_id!r} is not in skills vocabulary {vocabulary.version!r}")
        if len(set(typical)) != len(typical):
            raise ValueError(f"{where}: typical_skills lists a skill twice")
        out[code] = Occupation(code=code, title=title.strip(), typical_skills=tuple(typical))
    return out


def _load(name: str) -> Any:
    return yaml.safe_load(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@functools.cache
def skills() -> SkillsVocabulary:
    """The packaged skills vocabulary (skills.yaml), loaded and validated once."""
    return SkillsVocabulary.from_doc(_load("skills.yaml"))


@functools.cache
def occupations() -> dict[str, Occupation]:
    """The packaged O*NET-SOC occupations (occupations.yaml), code -> Occupation, loaded once.

    The dict is shared by every caller: read it, don't change it.
    """
    return occupations_from_doc(_load("occupations.yaml"), skills())
