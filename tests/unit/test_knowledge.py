"""The knowledge folder's checks, and how the passage to say is chosen from a parse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relais.core import knowledge as knowledge_module
from relais.core.brand import load_brand
from relais.core.knowledge import (
    KnowledgeError,
    Match,
    article_for,
    choose,
    load_knowledge,
    problems,
    ranking,
)

SITE = "https://www.example-air.example/"


def article(title: str, passages: list[tuple[str, str]], **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "link": f"{SITE}pets",
        "intents": [],
        "passages": [
            {"id": pid, "text": text, "questions": [f"{pid} one?", f"{pid} two?"]}
            for pid, text in passages
        ],
        **extra,
    }


def write(folder: Path, lang: str, name: str, data: object) -> None:
    (folder / lang).mkdir(parents=True, exist_ok=True)
    (folder / lang / f"{name}.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "en", "pets", article("Pets", [("cabin", "Cats fly in the cabin.")]))
    write(tmp_path, "fr", "pets", article("Animaux", [("cabin", "Les chats voyagent en cabine.")]))
    return tmp_path


def test_a_good_folder_loads_with_both_languages(folder: Path) -> None:
    knowledge = load_knowledge(folder, SITE)
    assert knowledge.ids == ["pets"]
    assert knowledge.article("pets", "fr").title == "Animaux"  # type: ignore[union-attr]
    assert knowledge.article("pets", "en").passage("cabin").text == "Cats fly in the cabin."  # type: ignore[union-attr]
    # Retrieval learns from every language's questions and passages.
    assert len(knowledge.examples()) == 2 * 3
    assert problems(folder, SITE) == []


def test_an_edited_article_is_read_again_once_the_stamps_are_due(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(knowledge_module.time, "monotonic", lambda: clock[0])
    assert load_knowledge(folder, SITE).article("pets", "en").title == "Pets"  # type: ignore[union-attr]
    write(folder, "en", "pets", article("Pets and animals", [("cabin", "Cats fly in the cabin.")]))
    # Within the stamps' lifetime the files are not listed again: the copy in memory serves.
    clock[0] += knowledge_module.STAMP_TTL_S / 2
    assert load_knowledge(folder, SITE).article("pets", "en").title == "Pets"  # type: ignore[union-attr]
    clock[0] += knowledge_module.STAMP_TTL_S
    assert load_knowledge(folder, SITE).article("pets", "en").title == "Pets and animals"  # type: ignore[union-attr]


def test_an_article_missing_in_one_language_is_reported(folder: Path) -> None:
    write(folder, "en", "meals", article("Meals", [("menu", "Sandwiches on board.")]))
    assert problems(folder, SITE) == ["meals: no fr version (fr/meals.yml)"]
    with pytest.raises(KnowledgeError, match="meals: no fr version"):
        load_knowledge(folder, SITE)


def test_languages_must_have_the_same_passages_links_and_checks(folder: Path) -> None:
    write(
        folder,
        "fr",
        "pets",
        {
            **article("Animaux", [("hold", "En soute.")]),
            "link": "https://www.example-air.example/animaux",
            "checks": "votre vol",
        },
    )
    found = problems(folder, SITE)
    assert "pets: en and fr have different passages (same ids, same order)" in found
    assert "pets: en and fr have different links" in found
    assert "pets: en and fr: `checks` is given in one language only" in found


@pytest.mark.parametrize(
    "link, problem",
    [
        ("http://www.example-air.example/pets", "is not an https:// address"),
        ("https://evil.example/pets", "is not on the brand's site (www.example-air.example)"),
    ],
)
def test_links_must_be_pages_of_the_brands_site(folder: Path, link: str, problem: str) -> None:
    for lang in ("en", "fr"):
        write(folder, lang, "pets", {**article("Pets", [("cabin", "Cats.")]), "link": link})
    assert f"en/pets.yml: link {link!r} {problem}" in problems(folder, SITE)


def test_bad_files_say_what_is_wrong(folder: Path) -> None:
    write(folder, "en", "Bad Name", article("X", [("a", "b")]))
    write(folder, "en", "long", article("Long", [("a", "word " * 100)], colour="red"))
    write(folder, "fr", "long", article("Long", [("a", "mot")]))
    (folder / "fr" / "broken.yml").write_text("title: [unclosed", encoding="utf-8")
    found = "\n".join(problems(folder, SITE, intents=["check_in"]))
    assert "en/Bad Name.yml: file names are lower-case words" in found
    assert "en/long.yml: unknown key(s) colour" in found
    assert "en/long.yml: passage a: text is 499 characters (at most 320)" in found
    assert "fr/broken.yml: not valid YAML" in found


def test_intents_must_exist_in_the_domain(folder: Path) -> None:
    for lang in ("en", "fr"):
        write(folder, lang, "pets", article("Pets", [("cabin", "Cats.")], intents=["pet_travel"]))
    assert problems(folder, SITE, intents=["check_in"]) == [
        "pets: intent 'pet_travel' is not in the domain"
    ]


def test_the_brands_own_knowledge_is_complete() -> None:
    """The articles shipped in knowledge/ pass the checks `make validate` runs."""
    brand = load_brand()
    import yaml as _yaml

    domain = _yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))
    assert problems(brand.knowledge_dir, brand.links["website"], domain["intents"]) == []
    knowledge = load_knowledge(brand.knowledge_dir, brand.links["website"])
    assert len(knowledge.ids) >= 15


def test_ranking_reads_the_parse_and_ignores_what_it_cannot_read() -> None:
    parse = {
        "knowledge": {
            "articles": [
                {"article": "pets", "passage": "cabin", "score": 0.5},
                {"article": "meals", "passage": "menu", "score": 0.8},
                {"article": "broken"},
            ]
        }
    }
    assert ranking(parse) == [Match("meals", "menu", 0.8), Match("pets", "cabin", 0.5)]
    assert ranking({}) == [] and ranking(None) == [] and ranking({"knowledge": "x"}) == []


def test_the_classifier_helps_choose_the_article_but_not_whether_to_answer(
    folder: Path,
) -> None:
    for lang in ("en", "fr"):
        write(
            folder,
            lang,
            "seats",
            article("Seats", [("pick", "Pick a seat.")], intents=["seat_selection"]),
        )
    knowledge = load_knowledge(folder, SITE)

    def pick(matches: list[Match], **intents: float) -> Match | None:
        return choose(matches, knowledge, intents=intents, answer_at=0.4, intent_bonus=0.1)

    seats, pets = Match("seats", "pick", 0.45), Match("pets", "cabin", 0.5)
    assert pick([pets, seats]) == pets  # the retriever alone
    # The request the classifier is sure of puts its own article first (0.45 + 0.09 > 0.5),
    # and the retriever's own score is what is kept...
    assert pick([pets, seats], seat_selection=0.9) == seats
    assert pick([pets, seats], seat_selection=0.4) == pets  # 0.49 < 0.5
    # ...and what the bar is held against: a sure classifier lifts nothing over it.
    assert pick([Match("seats", "pick", 0.35)], seat_selection=0.9) is None
    assert pick([Match("seats", "pick", 0.41)], seat_selection=0.0) == Match("seats", "pick", 0.41)
    # Chosen by the classifier but under the bar: nothing, not the next article.
    below = [Match("pets", "cabin", 0.42), Match("seats", "pick", 0.39)]
    assert pick(below, seat_selection=1.0) is None
    # A model trained on articles since removed says nothing of them.
    assert pick([Match("gone", "x", 0.99)]) is None
    parse = {
        "intent_ranking": [{"name": "seat_selection", "confidence": 0.9}],
        "knowledge": {
            "articles": [
                {"article": "pets", "passage": "cabin", "score": 0.5},
                {"article": "seats", "passage": "pick", "score": 0.45},
            ]
        },
    }
    assert article_for(parse, knowledge, answer_at=0.4, intent_bonus=0.1) == "seats"
    assert article_for(parse, knowledge, answer_at=0.46, intent_bonus=0.1) is None
    assert article_for({}, knowledge, answer_at=0.4, intent_bonus=0.1) is None


def test_a_message_nearer_what_is_out_of_scope_is_not_answered(folder: Path) -> None:
    knowledge = load_knowledge(folder, SITE)
    pets = [Match("pets", "cabin", 0.5)]

    def pick(outside: float) -> Match | None:
        return choose(
            pets,
            knowledge,
            intents={},
            answer_at=0.4,
            intent_bonus=0.1,
            outside=outside,
            outside_margin=0.0,
        )

    assert pick(0.3) == pets[0]
    assert pick(0.6) is None  # "what time is it in Montreal?" is nearer small talk
    parse = {
        "knowledge": {
            "articles": [{"article": "pets", "passage": "cabin", "score": 0.5}],
            "outside": 0.7,
        }
    }
    assert article_for(parse, knowledge, answer_at=0.4, intent_bonus=0.1) is None


def test_article_questions_and_the_outside_list_are_examples_too(folder: Path) -> None:
    for lang in ("en", "fr"):
        write(
            folder, lang, "pets", {**article("Pets", [("cabin", "Cats.")]), "questions": ["dog?"]}
        )
    (folder / "outside.yml").write_text(
        'en: ["do you fly to Tokyo?"]\nfr: ["vous avez le wifi ?"]\n'
    )
    knowledge = load_knowledge(folder, SITE)
    assert ("pets", "", "dog?") in knowledge.examples()  # the article, no passage in particular
    assert knowledge.outside == ("do you fly to Tokyo?", "vous avez le wifi ?")
    (folder / "outside.yml").write_text('de: ["Fliegen Sie nach Tokio?"]\n')
    assert problems(folder, SITE) == ["outside.yml: expected lists of questions under en, fr"]
