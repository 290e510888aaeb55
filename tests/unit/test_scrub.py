"""Personal data out of customer texts (relais/core/scrub.py): every kind, English and French,
fakes of the same shape, and entity spans that follow the text."""

from __future__ import annotations

import re

import pytest

from relais.core.codes import codes_for
from relais.core.scrub import (
    ADDRESS,
    BAGGAGE_FILE,
    BOOKING_REFERENCE,
    CARD,
    EMAIL,
    HANDLE,
    IBAN,
    NAME,
    NUMBER,
    PHONE,
    Pseudonyms,
    Scrubbed,
    _luhn,
    scrub,
)

CODES = codes_for("XY")


def clean(text: str, **options: object) -> Scrubbed:
    return scrub(text, codes=CODES, keep=("Céleste", "Air"), **options)  # type: ignore[arg-type]


def shape(text: str) -> str:
    """Digits as 9, letters as a (A in upper case): what a fake must keep."""
    return re.sub(r"[a-zà-ÿ]", "a", re.sub(r"[A-ZÀ-Ý]", "A", re.sub(r"\d", "9", text)))


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("hi, my name is John Smith and I need help", ["John", "Smith"]),
        ("my surname is miller, first name: anna", ["miller", "anna"]),
        ("booked under the name Harper, first name Lucy", ["Harper", "Lucy"]),
        ("Name: Sarah O'Connor", ["Sarah", "O'Connor"]),
        ("the booking is under the name of Peter Jones", ["Peter", "Jones"]),
        ("Hi, I'm Sarah from Leeds, my bag is lost", ["Sarah"]),
        ("This is Mr Thompson, calling about my refund", ["Thompson"]),
        ("Thanks,\nJohn Smith", ["John", "Smith"]),
        ("where is my bag?\n-- Emily", ["Emily"]),
        ("ok that works, thanks a lot. Cheers, Tom", ["Tom"]),
        ("XY7T2M Miller", ["Miller"]),
        ("Miller XY7T2M", ["Miller"]),
    ],
)
def test_english_names_are_replaced(text: str, gone: list[str]) -> None:
    result = clean(text)
    for name in gone:
        assert not re.search(rf"\b{re.escape(name)}\b", result.text), result.text
    assert NAME in result.kinds


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("bonjour, je m'appelle Marie Dupont", ["Marie", "Dupont"]),
        ("je m'appelle marie-claire dupont, vol demain", ["marie-claire", "dupont"]),
        ("mon nom de famille est Lefèvre", ["Lefèvre"]),
        ("réservation au nom de Jean de la Fontaine", ["Jean", "Fontaine"]),
        ("Nom : Moreau", ["Moreau"]),
        ("Bonjour, je suis Julie et mon vol est annulé", ["Julie"]),
        ("c'est M. Dupont, au nom de Mme Lefèvre", ["Dupont", "Lefèvre"]),
        ("Ma valise n'est pas arrivée.\nCordialement,\nMarie Dupont", ["Marie", "Dupont"]),
        ("merci pour tout, Julie", ["Julie"]),
    ],
)
def test_french_names_are_replaced(text: str, gone: list[str]) -> None:
    result = clean(text)
    for name in gone:
        assert not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", result.text), result.text
    assert NAME in result.kinds


@pytest.mark.parametrize(
    "text",
    [
        "my name is spelled wrong on the ticket",
        "I'm stuck in Paris and I'm very angry",
        "call me back asap please",
        "thanks for your help",
        "merci Céleste Air",
        "mon nom est mal orthographié sur le billet",
        "je suis en retard, je suis coincée à Lyon",
        "c'est pas normal, je suis très déçue",
        "Bonjour Madame, mon vol XY123 part à 14:30 le 12/04, j'ai payé 250 €",
        "I miss Paris already",
    ],
)
def test_what_is_not_a_name_stays(text: str) -> None:
    assert clean(text) == Scrubbed(text=text, entities=[], kinds=())


def test_known_names_are_found_in_any_case_but_common_words_only_capitalised() -> None:
    result = clean(
        "hi it's camille, booking for CAMILLE and Paul", names=["Camille Petit", "Paul Roux"]
    )
    assert "camille" not in result.text.lower() and "Paul" not in result.text
    # "petit" is a common French word: only the capitalised name is the surname.
    kept = clean("un petit souci avec ma valise, signé Petit", names=["Camille Petit"])
    assert kept.text.startswith("un petit souci") and not kept.text.endswith("Petit")


def test_a_name_keeps_its_case_and_one_fake_per_person() -> None:
    fakes = Pseudonyms()
    first = clean("my name is john smith", pseudonyms=fakes)
    again = clean("Smith here, JOHN SMITH", names=["John Smith"], pseudonyms=fakes)
    first_name, last_name = first.text.removeprefix("my name is ").split()
    assert first_name.islower() and last_name.islower()
    assert again.text == f"{last_name.title()} here, {first_name.upper()} {last_name.upper()}"


def test_a_fake_is_never_the_real_value() -> None:
    result = clean("my name is Alex Martin, ref XY7Q3Z")
    assert "Alex" not in result.text and "Martin" not in result.text
    assert "XY7Q3Z" not in result.text


# --- codes, contacts, numbers -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["I want to rebook XY4K2P for next week", "je veux changer ma réservation xy4k2p svp"],
)
def test_booking_references_become_a_reference_of_the_same_shape(text: str) -> None:
    result = clean(text)
    assert "4k2p" not in result.text.lower()
    assert result.kinds == (BOOKING_REFERENCE,)
    (fake,) = CODES.reference_in_text.findall(result.text)
    assert shape(fake) == shape("xy4k2p" if "xy4k2p" in text else "XY4K2P")


def test_two_references_get_two_fakes_and_the_same_one_the_same() -> None:
    result = clean("move XY4K2P to XY8Q2L, not XY4K2P")
    fakes = CODES.reference_in_text.findall(result.text)
    assert len(fakes) == 3 and fakes[0] == fakes[2] != fakes[1]


@pytest.mark.parametrize(
    "text",
    ["email me at john.smith@gmail.com", "mon adresse : marie.dupont+vols@orange.fr merci"],
)
def test_emails(text: str) -> None:
    result = clean(text)
    assert "@example.com" in result.text and "gmail" not in result.text
    assert "orange" not in result.text and result.kinds == (EMAIL,)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call me on +33 6 12 34 56 78 please", "+33 6 12 34 56 78"),
        ("appelez-moi au 0033 6 12 34 56 78", "0033 6 12 34 56 78"),
        ("mon portable : 06 98 76 54 32", "06 98 76 54 32"),
        ("ou le 06.98.76.54.32 après 18h", "06.98.76.54.32"),
        ("my cell is (514) 555-0199", "(514) 555-0199"),
        ("reach me at 514-555-0199 or +1 514 555 0199", "514-555-0199"),
        ("call 1-800-555-0199", "1-800-555-0199"),
    ],
)
def test_phone_numbers_keep_their_layout(text: str, number: str) -> None:
    result = clean(text)
    assert number not in result.text and PHONE in result.kinds
    start = text.index(number)
    fake = result.text[start : start + len(number)]
    assert shape(fake) == shape(number)
    if number.startswith(("+33", "0033")):
        assert fake.startswith(number.split()[0])  # the country stays, not the person


@pytest.mark.parametrize(
    "card",
    ["4970 1012 3456 7893", "5555-5555-5555-4444", "4111111111111111", "3782 822463 10005"],
)
def test_card_numbers_become_a_fake_card_of_the_same_layout(card: str) -> None:
    for text in (f"my card {card} was charged twice", f"ma carte {card} a été débitée deux fois"):
        result = clean(text)
        assert card not in result.text and result.kinds == (CARD,)
        start = text.index(card)
        fake = result.text[start : start + len(card)]
        assert shape(fake) == shape(card)
        assert _luhn(re.sub(r"\D", "", fake))


def test_a_card_like_number_failing_luhn_still_goes() -> None:
    result = clean("e-ticket 057 2345678901 and card 4970 1012 3456 7891")
    assert "2345678901" not in result.text and "7891" not in result.text
    assert result.kinds == (NUMBER, NUMBER)


def test_iban_and_long_numbers() -> None:
    result = clean("rembourser sur FR76 3000 6000 0112 3456 7890 189 svp, client 12345678")
    assert "3000 6000" not in result.text and "12345678" not in result.text
    assert result.text.startswith("rembourser sur FR") and result.kinds == (IBAN, NUMBER)


def test_handles_and_baggage_files() -> None:
    result = clean("@celesteair toujours rien pour le dossier CDGXY10234, cc @johnny_b @Marie")
    assert "johnny" not in result.text and "Marie" not in result.text
    assert "10234" not in result.text
    # The brand's own handle, the station and the airline say nothing of the person.
    assert result.text.startswith("@celesteair toujours") and "CDGXY" in result.text
    assert result.kinds == (BAGGAGE_FILE, HANDLE, HANDLE)


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ("send it to 221B Baker Street, London", "221B Baker Street"),
        ("livrez la valise au 12 rue de la Paix à Paris", "12 rue de la Paix"),
    ],
)
def test_street_addresses(text: str, street: str) -> None:
    result = clean(text)
    assert street not in result.text and result.kinds == (ADDRESS,)


# --- entity spans -------------------------------------------------------------------------


def test_entity_spans_follow_the_text_and_take_the_fake() -> None:
    text = "I'm Christopher, mail christopher.long@gmail.com, change XY4K2P to flight XY 611"
    entities = [
        {
            "start": text.index("XY4K2P"),
            "end": text.index("XY4K2P") + 6,
            "entity": "booking_reference",
            "value": "XY4K2P",
        },
        {
            "start": text.index("XY 611"),
            "end": len(text),
            "entity": "flight_number",
            "value": "XY 611",
        },
    ]
    result = clean(text, entities=entities)
    reference, flight = result.entities
    assert result.text[reference["start"] : reference["end"]] == reference["value"]
    assert CODES.reference_in_text.fullmatch(reference["value"])
    assert reference["value"] != "XY4K2P"
    assert flight == {
        "start": result.text.index("XY 611"),
        "end": len(result.text),
        "entity": "flight_number",
        "value": "XY 611",
    }


def test_a_marked_personal_entity_goes_whatever_its_shape() -> None:
    text = "le passager c'est jean, code dossier AB12CD"
    entities = [
        {"start": 18, "end": 22, "entity": "passenger_name", "value": "jean"},
        {"start": 37, "end": 43, "entity": "booking_reference", "value": "AB12CD"},
    ]
    result = clean(text, entities=entities)
    name, reference = result.entities
    assert "jean" not in result.text and "AB12CD" not in result.text
    assert result.text[name["start"] : name["end"]] == name["value"]
    assert shape(reference["value"]) == shape("AB12CD")
    assert result.text.endswith(reference["value"])


def test_a_span_partly_replaced_grows_with_the_fake() -> None:
    text = "passenger Mr John Smith"
    result = clean(
        text, entities=[{"start": 10, "end": 23, "entity": "person", "value": text[10:]}]
    )
    (person,) = result.entities
    assert result.text[person["start"] : person["end"]] == person["value"]
    assert person["value"].startswith("Mr ") and "Smith" not in person["value"]
