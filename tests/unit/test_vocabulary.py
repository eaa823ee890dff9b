"""The skills vocabulary and O*NET-SOC occupations packaged in contracts/vocabulary."""

import re

import pytest

from contracts import vocabulary
from contracts.vocabulary import Occupation, Skill, SkillsVocabulary, normalize, occupations_from_doc

pytestmark = pytest.mark.unit

# Skills the demo (talentloop/demo.py) posts and refers, as ids.
DEMO_SKILLS = [
    "python", "sql", "pandas", "tableau", "javascript", "html", "css", "react", "git", "troubleshooting", "windows",
    "networking", "customer-service", "linux", "security-plus", "docker", "aws", "testing", "selenium", "excel",
    "communication",
]

# Every id released in vocabulary 2026.11. Ids are forever: a later version may add skills, never drop these.
RELEASED_2026_11 = """
    python java javascript typescript c cpp csharp go rust ruby php swift kotlin dart r scala matlab
    perl bash powershell vba object-oriented-programming data-structures-algorithms debugging regex html
    css react angular vue svelte nextjs jquery redux bootstrap tailwind-css sass webpack vite
    responsive-design web-accessibility wordpress nodejs express django flask fastapi spring dotnet
    aspnet ruby-on-rails laravel rest-apis graphql microservices json oauth android-development
    ios-development swiftui react-native flutter mobile-app-development data-analysis excel pivot-tables
    google-sheets pandas numpy matplotlib jupyter tableau power-bi looker-studio looker
    data-visualization statistics spss sas data-cleaning etl apache-spark apache-airflow dbt ab-testing
    machine-learning deep-learning scikit-learn tensorflow pytorch nlp generative-ai prompt-engineering
    sql mysql postgresql sql-server oracle-database sqlite microsoft-access nosql mongodb redis
    cassandra dynamodb elasticsearch snowflake bigquery database-design database-administration
    data-warehousing aws azure gcp cloud-computing serverless docker kubernetes helm terraform ansible
    cloudformation infrastructure-as-code ci-cd jenkins github-actions gitlab-ci devops
    site-reliability-engineering monitoring-observability prometheus grafana nginx apache-http-server
    virtualization vmware hyper-v git github gitlab troubleshooting technical-support help-desk
    desktop-support remote-support ticketing-systems servicenow itil windows windows-server macos linux
    command-line active-directory entra-id group-policy microsoft-365-administration intune sccm
    mobile-device-management computer-hardware system-imaging it-asset-management backup-recovery
    networking tcp-ip dns dhcp subnetting lan-wan routing-switching routing-protocols vlans vpn
    wireless-networking cisco-ios network-cabling network-troubleshooting network-monitoring wireshark
    load-balancing voip sd-wan cybersecurity network-security firewalls security-operations siem splunk
    incident-response digital-forensics vulnerability-management penetration-testing threat-intelligence
    malware-analysis endpoint-security identity-access-management encryption application-security
    cloud-security security-risk-assessment grc nist-framework hipaa pci-dss security-awareness testing
    manual-testing test-automation test-planning bug-tracking regression-testing unit-testing
    user-acceptance-testing api-testing performance-testing mobile-testing selenium cypress playwright
    pytest junit jest bdd tdd itf-plus a-plus network-plus security-plus cysa-plus pentest-plus
    linux-plus cloud-plus data-plus project-plus ccna cissp cism isc2-cc ceh gsec aws-cloud-practitioner
    aws-solutions-architect-associate azure-fundamentals azure-administrator cka
    google-it-support-certificate google-data-analytics-certificate google-cybersecurity-certificate pmp
    capm csm istqb project-management project-coordination agile scrum kanban waterfall sdlc jira
    confluence microsoft-project requirements-gathering business-analysis stakeholder-management
    risk-management process-improvement ux-design ui-design user-research wireframing prototyping
    design-systems information-architecture figma adobe-xd sketch adobe-creative-cloud adobe-photoshop
    adobe-illustrator graphic-design communication customer-service teamwork problem-solving
    critical-thinking time-management organization attention-to-detail adaptability leadership
    conflict-resolution active-listening presentation-skills technical-writing data-entry typing
    microsoft-office microsoft-word powerpoint outlook microsoft-teams google-workspace slack spanish
""".split()

REQUIRED_OCCUPATIONS = {
    "15-1252.00": "Software Developers",
    "15-1254.00": "Web Developers",
    "15-1232.00": "Computer User Support Specialists",
    "15-1212.00": "Information Security Analysts",
    "15-1244.00": "Network and Computer Systems Administrators",
    "15-2051.00": "Data Scientists",
    "15-1253.00": "Software Quality Assurance Analysts and Testers",
    "15-1242.00": "Database Administrators",
    "15-1211.00": "Computer Systems Analysts",
    "15-1231.00": "Computer Network Support Specialists",
    "15-1241.00": "Computer Network Architects",
    "15-1251.00": "Computer Programmers",
    "15-1255.00": "Web and Digital Interface Designers",
    "15-1299.08": "Computer Systems Engineers/Architects",
    "15-1243.00": "Database Architects",
    "13-1082.00": "Project Management Specialists",
    "15-1299.09": "Information Technology Project Managers",
}


@pytest.fixture(scope="module")
def vocab() -> SkillsVocabulary:
    return vocabulary.skills()


def doc(*skills, version="t1"):
    return {"version": version, "skills": [{"aliases": [], "category": "cat", **s} for s in skills]}


# ---- the packaged data ----


def test_sizes_and_version(vocab):
    assert vocab.version == "2026.11"
    assert "not an official" in vocab.source
    assert len(vocab.skills) >= 170
    assert 10 <= len(vocab.categories()) <= 15
    assert len(vocabulary.occupations()) >= 15


def test_loaders_are_cached():
    assert vocabulary.skills() is vocabulary.skills()
    assert vocabulary.occupations() is vocabulary.occupations()


def test_demo_skills_exist(vocab):
    assert [s for s in DEMO_SKILLS if s not in vocab.skills] == []


def test_released_ids_are_never_dropped(vocab):
    assert [s for s in RELEASED_2026_11 if s not in vocab.skills] == []


def test_ids_are_slugs_and_categories_cover_every_skill(vocab):
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+#-]*", i) for i in vocab.skills)
    by_category = vocab.categories()
    assert sorted(i for ids in by_category.values() for i in ids) == sorted(vocab.skills)
    assert {"programming-languages", "it-support", "cybersecurity", "certifications"} <= set(by_category)
    assert all(isinstance(s, Skill) and s.id == i for i, s in vocab.skills.items())


def test_no_alias_is_a_mere_case_variant_of_its_own_id_name_or_another_alias(vocab):
    redundant = []
    for s in vocab.skills.values():
        seen = {s.id.casefold(), s.name.casefold()}
        for alias in s.aliases:
            if alias.casefold() in seen:
                redundant.append((s.id, alias))
            seen.add(alias.casefold())
    assert redundant == []


@pytest.mark.parametrize(
    ("text", "skill_id"),
    [
        ("JS", "javascript"), ("Javascript", "javascript"), ("java script", "javascript"),
        ("ECMAScript", "javascript"), ("NodeJS", "nodejs"), ("Node.js", "nodejs"), ("node js", "nodejs"),
        ("Node", "nodejs"), ("Postgres", "postgresql"), ("psql", "postgresql"), ("MS Excel", "excel"),
        ("Microsoft Excel", "excel"), ("Sec+", "security-plus"), ("Security+", "security-plus"),
        ("CompTIA Security+", "security-plus"), ("Security Plus", "security-plus"), ("C#", "csharp"),
        ("C sharp", "csharp"), ("C++", "cpp"), ("cpp", "cpp"), ("Golang", "go"), ("Go", "go"),
        ("Amazon Web Services", "aws"), ("AWS", "aws"), ("Customer Service", "customer-service"),
        ("customer support", "customer-service"), ("React.js", "react"), ("K8s", "kubernetes"),
        ("Spring Boot", "spring"), ("  Python  3 ", "python"), ("TypeScript", "typescript"),
        ("CCNA", "ccna"), ("A+", "a-plus"), ("Network+", "network-plus"), ("Wi-Fi", "wireless-networking"),
    ],
)
def test_aliases_resolve(vocab, text, skill_id):
    found = vocab.lookup(text)
    assert found is not None and found.id == skill_id


def test_the_demo_texts_resolve(vocab):
    # demo.py writes some skills as people do, not as ids
    assert vocab.lookup("customer service").id == "customer-service"
    assert vocab.lookup("security+").id == "security-plus"


def test_c_csharp_and_cpp_are_three_skills(vocab):
    assert {vocab.lookup("C").id, vocab.lookup("C#").id, vocab.lookup("C++").id} == {"c", "csharp", "cpp"}


def test_java_is_not_javascript(vocab):
    assert vocab.lookup("Java").id == "java"
    assert vocab.lookup("JavaScript").id == "javascript"


@pytest.mark.parametrize("text", ["underwater basket weaving", "", "   ", "-", "C+", "C##", "Javaa"])
def test_unknown_text_is_none(vocab, text):
    assert vocab.lookup(text) is None


def test_normalization_ignores_case_spaces_and_separators_but_not_plus_or_hash():
    assert normalize("Node.js") == normalize("nodejs") == normalize("node js") == normalize(" NODE_JS ") == "nodejs"
    assert normalize("CI/CD") == normalize("ci-cd") == "cicd"
    assert len({normalize("C"), normalize("C#"), normalize("C++")}) == 3
    assert SkillsVocabulary.normalize("Sec+") == "sec+"


# ---- occupations ----


def test_required_occupations_have_their_onet_soc_titles():
    occs = vocabulary.occupations()
    assert {code: occs[code].title for code in REQUIRED_OCCUPATIONS if code in occs} == REQUIRED_OCCUPATIONS


def test_every_occupation_is_well_formed_and_its_typical_skills_resolve(vocab):
    for code, occ in vocabulary.occupations().items():
        assert isinstance(occ, Occupation) and occ.code == code
        assert re.fullmatch(r"\d{2}-\d{4}\.\d{2}", code)
        assert len(occ.typical_skills) >= 5, code
        assert [s for s in occ.typical_skills if s not in vocab.skills] == [], code


def test_demo_openings_skills_are_typical_of_their_occupations():
    occs = vocabulary.occupations()
    assert {"python", "sql"} <= set(occs["15-2051.00"].typical_skills)
    assert {"javascript", "html", "css"} <= set(occs["15-1254.00"].typical_skills)
    assert {"troubleshooting", "windows"} <= set(occs["15-1232.00"].typical_skills)
    assert {"testing", "sql"} <= set(occs["15-1253.00"].typical_skills)


# ---- validation on load ----


def test_from_doc_builds_a_vocabulary():
    v = SkillsVocabulary.from_doc(doc({"id": "a", "name": "Alpha", "aliases": ["A1"]}, {"id": "b", "name": "Beta"}))
    assert v.version == "t1" and v.lookup("a-1").id == "a" and v.lookup("BETA").id == "b"
    assert v.categories() == {"cat": ["a", "b"]}


def test_a_duplicate_alias_is_refused_and_named():
    bad = doc(
        {"id": "a", "name": "Alpha", "aliases": ["Shared Thing"]}, {"id": "b", "name": "Beta", "aliases": ["shared-thing"]}
    )
    with pytest.raises(ValueError, match=r"'shared-thing'.*'Shared Thing'.*'a'"):
        SkillsVocabulary.from_doc(bad)


def test_an_alias_equal_to_another_skills_name_or_id_is_refused():
    with pytest.raises(ValueError, match="'Beta'"):
        SkillsVocabulary.from_doc(doc({"id": "a", "name": "Alpha", "aliases": ["Beta"]}, {"id": "b", "name": "Beta"}))
    with pytest.raises(ValueError, match="'b'"):
        SkillsVocabulary.from_doc(doc({"id": "a", "name": "Alpha", "aliases": ["B"]}, {"id": "b", "name": "Beta"}))


def test_an_alias_repeating_its_own_skill_is_allowed():
    v = SkillsVocabulary.from_doc(doc({"id": "node-js", "name": "Node.js", "aliases": ["nodejs", "Node JS"]}))
    assert v.lookup("NODEJS").id == "node-js"


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        ([{"id": "a", "name": "A"}, {"id": "a", "name": "Other"}], "'a': duplicate id"),
        ([{"id": "Not A Slug", "name": "A"}], "'Not A Slug'"),
        ([{"id": "a", "name": "A", "aliases": [True]}], "alias True must be a string"),
        ([{"id": "a", "name": "A", "aliases": ["--"]}], "'--' is empty once normalized"),
        ([{"id": "a", "name": ""}], "'a'.*name"),
        ([{"id": "a", "name": "A", "category": "Bad Category"}], "'Bad Category'"),
    ],
)
def test_malformed_skills_are_refused_and_named(skills, message):
    with pytest.raises(ValueError, match=message):
        SkillsVocabulary.from_doc(doc(*skills))


def test_a_vocabulary_needs_a_version_and_skills():
    with pytest.raises(ValueError, match="version"):
        SkillsVocabulary.from_doc({"skills": [{"id": "a", "name": "A", "category": "c"}]})
    with pytest.raises(ValueError, match="skills"):
        SkillsVocabulary.from_doc({"version": "1", "skills": []})


def test_occupations_are_validated_against_the_vocabulary():
    v = SkillsVocabulary.from_doc(doc({"id": "a", "name": "Alpha"}))
    entry = {"code": "15-1252.00", "title": "Software Developers", "typical_skills": ["a"]}
    ok = occupations_from_doc({"occupations": [entry]}, v)
    assert ok["15-1252.00"] == Occupation("15-1252.00", "Software Developers", ("a",))
    with pytest.raises(ValueError, match=r"'15-1252\.00'.*'zzz'"):
        occupations_from_doc({"occupations": [{"code": "15-1252.00", "title": "T", "typical_skills": ["zzz"]}]}, v)
    with pytest.raises(ValueError, match="'15-1252'"):
        occupations_from_doc({"occupations": [{"code": "15-1252", "title": "T", "typical_skills": []}]}, v)
    dup = {"code": "15-1252.00", "title": "T", "typical_skills": []}
    with pytest.raises(ValueError, match="duplicate code"):
        occupations_from_doc({"occupations": [dup, dup]}, v)
