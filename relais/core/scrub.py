"""Personal data out of a customer's text before it becomes training data or a test story.

`scrub` replaces each piece of personal data by a fake one of the same shape, so the example
still reads as customers write (a reference stays a reference, a phone number keeps its
layout), and moves the entity spans a designer marked along with the text. It finds:

- emails, and @handles (X, Telegram) other than the brand's own;
- payment card numbers: 13-19 digits, whole or in groups split by spaces or dashes, that pass
  the Luhn check; the same shape failing it (a mistyped card, an e-ticket) goes as a number;
- IBANs: two capital letters, two digits, then 11-30 capitals or digits, grouped by four or not;
- phone numbers: international (+33 6 12 34 56 78, 0033 6…, +1 514 555 0199), French
  (06 12 34 56 78, 06.12.34.56.78) and North American ((514) 555-0199, 1-800-555-0199);
- the brand's booking references and baggage files (relais/core/codes.py);
- a street address: a number, then rue/avenue/boulevard… or …Street/Road/Avenue;
- any other run of seven digits or more (a customer, ticket or account number);
- people's names: the names the caller knows from the context (the customer's record, the
  passengers of their bookings, the agents), in any case; up to three words after a cue
  ("my name is", "my surname is", "last name is", "name:", "je m'appelle", "mon nom est",
  "mon nom de famille est", "au nom de", "nom :" take them in any case; "I'm", "I am",
  "this is", "it's", "call me", "under the name of", "surname", "je suis", "c'est",
  "moi c'est" only capitalised: "I'm Sarah", not "I'm stuck"), never a common word of
  either language ("my name is spelled wrong"); a capitalised name after a title (Mr, Mrs,
  Ms, Dr, M., Mme, Mlle, Madame, Monsieur); a signature: a last line of one to three
  capitalised words after a closing line ("Thanks,", "Cordialement,") or after a dash, or a
  closing and a name ending the message ("thanks, John", "merci pour tout, Julie"); a
  capitalised word right after a booking reference, or alone before it ("XY7T2M Miller",
  "Miller XY7T2M": the reference check asks for the surname with it).

Not found: a name in lower case with no cue that the context does not know, a street without
a number, a postal code, a date of birth. The designer marks such a message "not for
training", or marks the value as an entity of a personal kind (`PERSONAL_ENTITIES`): such an
entity is replaced whatever its shape.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relais.core.codes import Codes, brand_codes

NAME = "name"
EMAIL = "email"
HANDLE = "handle"
PHONE = "phone"
CARD = "card"
IBAN = "iban"
BOOKING_REFERENCE = "booking_reference"
BAGGAGE_FILE = "baggage_file"
ADDRESS = "address"
NUMBER = "number"

#: Entities whose value is personal whatever its shape: a span a designer marks with one of
#: these names is replaced even where no pattern above finds it.
PERSONAL_ENTITIES: Mapping[str, str] = {
    "booking_reference": BOOKING_REFERENCE,
    "baggage_file": BAGGAGE_FILE,
    "email": EMAIL,
    "phone": PHONE,
    "phone_number": PHONE,
    "card_number": CARD,
    "iban": IBAN,
    "address": ADDRESS,
    "name": NAME,
    "person": NAME,
    "first_name": NAME,
    "last_name": NAME,
    "surname": NAME,
    "passenger_name": NAME,
}

#: Kinds whose fakes are words, written in the case of what they replace.
_WORDS = frozenset({NAME, EMAIL, HANDLE, BOOKING_REFERENCE})

FIRST_NAMES = ("Alex", "Sam", "Charlie", "Robin", "Morgan", "Dominique", "Jo", "Lou")
LAST_NAMES = ("Martin", "Bernard", "Moreau", "Laurent", "Girard", "Fontaine", "Mercier", "Roux")
#: Booking references are the brand's code and one of these (each has a letter, as the
#: pattern wants).
REFERENCE_ENDS = ("7Q3Z", "2B8N", "5H4W", "9D6R", "3K7V", "8F2J", "4T9C", "6M5X")

_NAME_TOKEN = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"
_TOKEN = re.compile(_NAME_TOKEN)
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])")
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])(?:\+|00)\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\w])"
)
_PHONE_FR = re.compile(r"(?<![\w+])0[1-9](?:[ .-]?\d{2}){4}(?![\w])")
_PHONE_NA = re.compile(r"(?<![\w+])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w])")
_CARD = re.compile(r"(?<![\w])\d(?:[ -]?\d){12,18}(?![\w])")
_LONG_NUMBER = re.compile(r"(?<![\w])\d{7,}(?![\w])")
#: A capitalised word ("Baker", "Jean-Jaurès").
_CAPITAL_WORD = r"[A-ZÀ-Ý][^\W\d_]*(?:['’-][^\W\d_]+)*"
_ADDRESS_FR = re.compile(
    r"(?<![\w])\d{1,4}(?: ?(?:bis|ter))?,? (?i:rue|avenue|av\.|bd|boulevard|chemin|allée|"
    r"impasse|place|quai|route|square)\b(?: (?:de|du|des|la|le|les))*(?: [dl]['’]| )"
    rf"{_NAME_TOKEN}(?: {_CAPITAL_WORD}){{0,2}}"
)
_ADDRESS_EN = re.compile(
    rf"(?<![\w])\d{{1,5}}[A-Za-z]?,? (?:{_CAPITAL_WORD} ){{1,3}}"
    r"(?i:street|st|road|rd|avenue|ave|lane|ln|drive|boulevard|blvd|court|way|place|terrace)"
    r"\b\.?"
)
#: Cues after which the next words are a name, written in any case.
_STRONG_CUE = re.compile(
    r"(?i:\bmy (?:(?:full|first|last|family|given) )?(?:sur)?name(?:'s| is)"
    r"|\b(?:(?:full|first|last|family|given|passenger) )?(?:sur)?name ?[:=]"
    r"|\b(?:(?:first|last|family|given) name|surname) is"
    r"|\bje m['’]appelle|\bje me nomme"
    r"|\bmon (?:nom de famille|nom complet|nom|prénom)(?: est| c['’]est| ?:)"
    r"|\b(?:nom de famille|nom|prénom) ?:|\bau nom de)"
)
#: Cues after which only capitalised words are a name ("I'm Sarah", not "I'm stuck").
_WEAK_CUE = re.compile(
    r"(?i:\b(?:i['’]m|i am|this is|it['’]s|call me|(?:booked )?under the name(?: of)?"
    r"|(?:first|last|family|given) name|surname|je suis|moi c['’]est|c['’]est))"
)
_SURNAME_CUE = re.compile(r"(?i:sur|last|family|nom de famille|under|au nom)")
_TITLE = re.compile(
    r"(?<![\w])(?:(?i:mr|mrs|mme|mlle|madame|monsieur|mademoiselle)\.?|(?:Ms|Miss|Mx|Dr)\.?|M\.)"
    r"[ \t]+"
)
_CLOSING = (
    r"(?i:thanks|thank you|many thanks|thx|cheers|regards|best regards|kind regards|"
    r"best wishes|best|sincerely|yours sincerely|yours|merci beaucoup|merci d['’]avance|merci|"
    r"bien cordialement|cordialement|bien à vous|salutations|bonne journée|bonne soirée|"
    r"à bientôt|amicalement)"
)
_CLOSING_LINE = re.compile(rf"\s*{_CLOSING}\b.*|.*,\s*")
_SIGNATURE_LINE = re.compile(
    rf"[ \t]*(?:[-–—~]+[ \t]*)?({_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,2}})[ \t.!]*"
)
_SIGNATURE_DASH = re.compile(r"[ \t]*[-–—~]")
_CLOSING_END = re.compile(
    rf"(?<![\w]){_CLOSING}(?:(?:[ \t]+[\w'’]+){{0,4}}[ \t]*[,!.]+|[ \t]*[,!.]*)[ \t]+"
    rf"({_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,2}})[ \t.!]*$"
)

#: Words that are never part of a name (compared folded: lower case, no accents).
_NOT_NAMES = frozenset(
    """
    a an the and or but if so to of in on at by for from with without about as into over
    under i me my mine we us our you your he him his she her they them their it its this that
    these those there here is am are was were be been being have has had do does did not no
    yes ok okay please pls plz thanks thank thx hi hello hey dear still just also only very
    really too sorry going trying flying travelling traveling waiting looking calling writing
    back again now today tomorrow yesterday spelled spelt misspelled misspelt wrong incorrect
    correct right different missing written booking ticket reservation flight ref reference
    number passenger passengers customer client gold silver platinum member name surname same
    happy angry furious tired done stuck sure afraid new here air airline airlines airport
    terminal gate service team support agent bot asap later maybe urgently mr mrs ms miss
    dr sir madam
    le la les l un une des du de d au aux et ou mais si donc à en dans sur sous par pour avec
    sans chez je j moi m mon ma mes nous notre nos vous votre vos tu te ton ta tes il elle ils
    elles on lui leur leurs ce c cet cette ces ici là est suis es sommes etes sont etait ete
    ai avons avez ont pas ne n non oui merci bonjour bonsoir salut svp stp desole desolee tres
    vraiment encore deja aussi toujours mal faux fausse erreur errone erronee mauvais mauvaise
    ecrit ecrite orthographie orthographiee different differente bon bien billet vol numero
    passager passagere cliente membre nom prenom meme content contente fache fachee furieux
    furieuse coince coincee sur sure nouveau nouvelle aeroport porte equipe agent conseiller
    mme mlle madame monsieur mademoiselle
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december lundi mardi mercredi jeudi vendredi
    samedi dimanche janvier fevrier mars avril mai juin juillet aout septembre octobre
    novembre decembre french english american british canadian belgian swiss german spanish
    italian francais francaise anglais anglaise americain americaine canadien canadienne belge
    suisse allemand allemande espagnol espagnole italien italienne
    """.split()
)
#: Particles inside a name ("Jean de la Fontaine"): kept in a name, never a name alone.
_PARTICLES = frozenset("de la le du des d van von der den di da del mac".split())
#: Surnames that are also common words: matched from the context only when capitalised.
_COMMON_WORD_NAMES = frozenset(
    """
    petit blanc noir rose roux brun pain long grand lebon white black brown green young king
    may will mark grant hope rich page hall wood bell rice cash love day
    """.split()
)


@dataclass(frozen=True)
class Scrubbed:
    """A text without its personal data, and the entities moved along with it."""

    text: str
    #: The entity spans on `text`: [{"start", "end", "entity", "value"}, …], in order.
    entities: list[dict[str, Any]]
    #: What was replaced, in the order of the text (NAME, EMAIL…), once per replacement.
    kinds: tuple[str, ...]
    #: The words taken for people's names, as written: a caller may look for them in the
    #: conversation's other texts (`names`), where no cue says they are names.
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    kind: str
    #: For a NAME (one word): a surname ("Miller" after a reference), else a first name.
    surname: bool = False
    #: From a designer's entity of a personal kind that no pattern found.
    marked: bool = False


class Pseudonyms:
    """The fakes given so far: within one conversation the same person, reference or number
    gets the same fake each time, and two different ones two different fakes."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        #: How many fakes of each kind were given (first names and surnames apart).
        self._counts: dict[tuple[str, bool], int] = {}
        #: The real values and names seen (folded): no fake is one of them, so a fake never
        #: reads as another real person of the conversation.
        self._real: set[str] = set()

    def seen(self, values: Iterable[str]) -> None:
        """Real values (names, references…) a fake must not be."""
        self._real.update(_fold(value) for value in values)

    def fake(self, kind: str, original: str, airline: str, surname: bool = False) -> str:
        """The fake for `original`, a value of `kind`; `airline`: the brand's code, which a
        fake booking reference keeps; `surname`: a one-word name is a surname."""
        key = (kind, _fold(original))
        if key not in self._given:
            series = (kind, surname and kind == NAME)
            count = self._counts.get(series, 0)
            fake = _make_fake(kind, original, count, airline, surname)
            self._real.add(key[1])
            while _fold(fake) in self._real:
                count += 1
                fake = _make_fake(kind, original, count, airline, surname)
            self._counts[series] = count + 1
            self._given[key] = fake
        fake = self._given[key]
        # Each time in the case it is written in ("smith", then "SMITH").
        return _same_case(original, fake) if kind in _WORDS else fake


def scrub(
    text: str,
    entities: Sequence[Mapping[str, Any]] = (),
    *,
    names: Iterable[str] = (),
    keep: Iterable[str] = (),
    codes: Codes | None = None,
    pseudonyms: Pseudonyms | None = None,
) -> Scrubbed:
    """`text` with its personal data replaced by fakes of the same shape.

    `entities`: spans on `text` ({"start", "end", "entity", "value"}); returned moved to the
    new text, with the new value where a replacement touched them. `names`: people's names
    known from the context (full names), found in any case. `keep`: words never taken for a
    name (the brand's name). `codes`: the airline's code patterns (default: the brand's).
    `pseudonyms`: share one across a conversation's messages for consistent fakes.
    """
    codes = codes or brand_codes()
    pseudonyms = pseudonyms or Pseudonyms()
    keep = list(keep)
    # The brand's own handle ("@CelesteAir") is its name written as one word.
    kept = {_fold(word) for word in [*keep, "".join(keep)]}
    names = list(names)
    found = _personal(text, names, kept, codes)
    found = _with_marked_entities(text, found, entities)
    pseudonyms.seen([*(w for n in names for w in _TOKEN.findall(n)), *_originals(text, found)])
    replacements = []
    for item in found:
        original = text[item.start : item.end]
        # A marked value no pattern found gets a fake of its own shape (as a number does).
        kind = NUMBER if item.marked and item.kind not in (NAME, EMAIL, HANDLE) else item.kind
        fake = pseudonyms.fake(kind, original, codes.airline, item.surname)
        replacements.append((item.start, item.end, fake))
    new_text = _apply(text, replacements)
    moved = [_moved(dict(e), replacements, new_text) for e in entities]
    moved.sort(key=lambda e: (e["start"], e["end"]))
    return Scrubbed(
        text=new_text,
        entities=moved,
        kinds=tuple(f.kind for f in found),
        names=tuple(text[f.start : f.end] for f in found if f.kind == NAME),
    )


def _originals(text: str, found: Iterable[_Found]) -> list[str]:
    return [text[f.start : f.end] for f in found]


# --- finding ------------------------------------------------------------------------------


def _personal(text: str, names: Iterable[str], kept: set[str], codes: Codes) -> list[_Found]:
    """Every piece of personal data in `text`, without overlaps, in the order of the text.

    Found kind by kind, the most specific first: a span another kind already took is left
    (an email's name part is not a name, a card's digits not a phone number)."""
    taken: list[_Found] = []

    def add(start: int, end: int, kind: str, surname: bool = False) -> None:
        if start < end and not any(start < t.end and t.start < end for t in taken):
            taken.append(_Found(start, end, kind, surname))

    for match in _EMAIL.finditer(text):
        add(match.start(), match.end(), EMAIL)
    for match in _IBAN.finditer(text):
        if 15 <= len(match.group().replace(" ", "")) <= 34:
            add(match.start(), match.end(), IBAN)
    for match in _PHONE_INTERNATIONAL.finditer(text):
        digits = _digits(match.group().replace("(0)", ""))
        if 8 <= len(digits) <= 15:
            add(match.start(), match.end(), PHONE)
    for match in _CARD.finditer(text):
        digits = _digits(match.group())
        add(match.start(), match.end(), CARD if _luhn(digits) else NUMBER)
    for pattern in (_PHONE_FR, _PHONE_NA):
        for match in pattern.finditer(text):
            add(match.start(), match.end(), PHONE)
    baggage = re.compile(rf"\b{codes.baggage_file.pattern}\b", re.IGNORECASE)
    for match in baggage.finditer(text):
        add(match.start(), match.end(), BAGGAGE_FILE)
    references = list(codes.reference_in_text.finditer(text))
    for match in references:
        add(match.start(), match.end(), BOOKING_REFERENCE)
    for pattern in (_ADDRESS_FR, _ADDRESS_EN):
        for match in pattern.finditer(text):
            add(match.start(), match.end(), ADDRESS)
    for match in _LONG_NUMBER.finditer(text):
        add(match.start(), match.end(), NUMBER)
    for match in _HANDLE.finditer(text):
        if _fold(match.group()[1:]) not in kept:
            add(match.start(), match.end(), HANDLE)
    for start, end, surname in _names(text, names, kept, references):
        add(start, end, NAME, surname)
    return sorted(taken, key=lambda f: f.start)


def _names(
    text: str, known: Iterable[str], kept: set[str], references: list[re.Match[str]]
) -> list[tuple[int, int, bool]]:
    """(start, end, surname) of each word of a person's name in `text`."""
    found: list[tuple[int, int, bool]] = []
    for cue in _STRONG_CUE.finditer(text):
        surname = bool(_SURNAME_CUE.search(cue.group()))
        found += _name_after(text, cue.end(), kept, any_case=True, surname=surname)
    for cue in _WEAK_CUE.finditer(text):
        surname = bool(_SURNAME_CUE.search(cue.group()))
        found += _name_after(text, cue.end(), kept, any_case=False, surname=surname)
    for title in _TITLE.finditer(text):
        found += _name_after(text, title.end(), kept, any_case=False, surname=True)
    found += _signature(text, kept)
    for reference in references:
        found += _name_after(text, reference.end(), kept, False, True, most=1, gap=r"[ \t,/]*")
        before = re.search(rf"(?:^|\n)[ \t]*({_NAME_TOKEN})[ \t,]+$", text[: reference.start()])
        if before and _may_be_name(before.group(1), kept, any_case=False):
            found.append((before.start(1), before.end(1), True))
    found += _known_names(text, known, kept)
    return found


def _name_after(
    text: str,
    position: int,
    kept: set[str],
    any_case: bool,
    surname: bool,
    most: int = 3,
    gap: str = r"[ \t]*[:=]?[ \t]*",
) -> list[tuple[int, int, bool]]:
    """The words of the name that starts at `position` (after a cue or a title): up to
    `most` words, particles allowed between them; lower-case words only if `any_case`."""
    words: list[tuple[int, int]] = []
    lead = re.compile(gap).match(text, position)
    position = lead.end() if lead else position
    pending: list[tuple[int, int]] = []  # particles, kept if a name word follows
    while len(words) < most:
        match = _TOKEN.match(text, position)
        if match is None:
            break
        word = match.group()
        if words and _fold(word) in _PARTICLES:
            pending.append(match.span())
        elif _may_be_name(word, kept, any_case):
            words += [*pending, match.span()]
            pending = []
        else:
            break
        space = re.compile(r"[ \t]+").match(text, match.end())
        if space is None:
            break
        position = space.end()
    names = [w for w in words if _fold(text[w[0] : w[1]]) not in _PARTICLES]
    if not names:
        return []
    last = names[-1]
    return [(s, e, surname if len(names) == 1 else (s, e) == last) for s, e in names]


def _signature(text: str, kept: set[str]) -> list[tuple[int, int, bool]]:
    """The name a message is signed with: its last line after a closing line or a dash
    ("Thanks,\\nJohn Smith", "-- Marie"), or after a closing at its end ("merci, Julie")."""
    lines = [m for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    if len(lines) >= 2:
        last, before = lines[-1], lines[-2]
        signed = _SIGNATURE_LINE.fullmatch(last.group())
        if signed and (
            _SIGNATURE_DASH.match(last.group()) or _CLOSING_LINE.fullmatch(before.group())
        ):
            return _words(text, last.start() + signed.start(1), last.start() + signed.end(1), kept)
    ending = _CLOSING_END.search(text)
    if ending:
        return _words(text, ending.start(1), ending.end(1), kept)
    return []


def _words(text: str, start: int, end: int, kept: set[str]) -> list[tuple[int, int, bool]]:
    """The name words between `start` and `end`, if every one of them may be a name."""
    spans = [m.span() for m in _TOKEN.finditer(text, start, end)]
    if not spans or not all(
        _fold(text[s:e]) in _PARTICLES or _may_be_name(text[s:e], kept, any_case=False)
        for s, e in spans
    ):
        return []
    names = [(s, e) for s, e in spans if _fold(text[s:e]) not in _PARTICLES]
    return [(s, e, len(names) > 1 and (s, e) == names[-1]) for s, e in names]


def _known_names(text: str, known: Iterable[str], kept: set[str]) -> list[tuple[int, int, bool]]:
    """The words of the names known from the context, wherever they are, in any case (a
    name that is also a common word, such as "Petit", only capitalised)."""
    words: dict[str, bool] = {}  # folded word -> is the last word of a full name
    for full_name in known:
        tokens = [t for t in _TOKEN.findall(full_name or "") if _fold(t) not in _PARTICLES]
        for i, token in enumerate(tokens):
            folded = _fold(token)
            if len(folded) >= 2 and folded not in kept:
                words[folded] = words.get(folded, False) or (i == len(tokens) - 1 and i > 0)
    found = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        folded = _fold(word)
        if folded not in words:
            continue
        if (folded in _COMMON_WORD_NAMES or folded in _NOT_NAMES) and not word[0].isupper():
            continue
        found.append((match.start(), match.end(), words[folded]))
    return found


def _may_be_name(word: str, kept: set[str], any_case: bool) -> bool:
    folded = _fold(word)
    if folded in _NOT_NAMES or folded in kept or len(folded) < 2:
        return False
    return any_case or (word[0].isupper() and not word.isupper())


def _with_marked_entities(
    text: str, found: list[_Found], entities: Sequence[Mapping[str, Any]]
) -> list[_Found]:
    """`found`, plus the designer's entities of a personal kind that no pattern found."""
    extra: list[_Found] = []
    for entity in entities:
        kind = PERSONAL_ENTITIES.get(str(entity.get("entity")))
        start, end = int(entity.get("start", 0)), int(entity.get("end", 0))
        if kind is None or any(start < f.end and f.start < end for f in [*found, *extra]):
            continue
        if kind == NAME:
            spans = [m.span() for m in _TOKEN.finditer(text, start, end)]
            last = len(spans) - 1
            extra += [_Found(s, e, NAME, i == last, True) for i, (s, e) in enumerate(spans)]
        else:
            extra.append(_Found(start, end, kind, marked=True))
    return sorted([*found, *extra], key=lambda f: f.start)


# --- replacing ----------------------------------------------------------------------------


def _apply(text: str, replacements: Sequence[tuple[int, int, str]]) -> str:
    parts, position = [], 0
    for start, end, fake in replacements:
        parts += [text[position:start], fake]
        position = end
    return "".join([*parts, text[position:]])


def _moved(
    entity: dict[str, Any], replacements: Sequence[tuple[int, int, str]], new_text: str
) -> dict[str, Any]:
    """The entity on the new text; its value is the new text's where a replacement touched it."""
    start, end = int(entity["start"]), int(entity["end"])
    touched = any(s < end and start < e for s, e, _ in replacements)
    entity["start"] = _new_position(start, replacements, is_end=False)
    entity["end"] = _new_position(end, replacements, is_end=True)
    if touched:
        entity["value"] = new_text[entity["start"] : entity["end"]]
    return entity


def _new_position(position: int, replacements: Sequence[tuple[int, int, str]], is_end: bool) -> int:
    """Where `position` is after the replacements: shifted by those before it; inside a
    replaced piece, at the fake's start (a span's start) or end (a span's end), so that a
    span covers the whole fake."""
    shift = 0
    for old_start, old_end, fake in replacements:
        if old_end <= position:
            shift += len(fake) - (old_end - old_start)
        elif old_start < position:
            return old_start + shift + (len(fake) if is_end else 0)
        else:
            break
    return position + shift


def _make_fake(kind: str, original: str, count: int, airline: str, surname: bool) -> str:
    if kind == NAME:
        names = LAST_NAMES if surname else FIRST_NAMES
        return names[count % len(names)] + ("" if count < len(names) else str(count))
    if kind == EMAIL:
        first, last = FIRST_NAMES[count % len(FIRST_NAMES)], LAST_NAMES[count % len(LAST_NAMES)]
        number = "" if count < len(FIRST_NAMES) else str(count)
        return f"{first.lower()}.{last.lower()}{number}@example.com"
    if kind == HANDLE:
        return "@customer" + ("" if count == 0 else str(count + 1))
    if kind == BOOKING_REFERENCE:
        end = REFERENCE_ENDS[count % len(REFERENCE_ENDS)]
        if count >= len(REFERENCE_ENDS):  # more references than fakes: vary the digits
            end = _reshape(end, count)
        return airline + end
    if kind == BAGGAGE_FILE:
        return original[: 3 + len(airline)] + _reshape(original[3 + len(airline) :], count)
    if kind == PHONE:
        prefix = re.match(r"(?:\+|00)\d{1,3}|0\d", original)
        kept = prefix.end() if prefix else 0
        return original[:kept] + _reshape(original[kept:], count)
    if kind == CARD:
        return _luhn_valid(_reshape(original, count))
    if kind == IBAN:
        return original[:2] + _reshape(original[2:], count)
    if kind == ADDRESS:
        french = _ADDRESS_FR.fullmatch(original) is not None
        return f"{10 + count} {'rue des Lilas' if french else 'Main Street'}"
    return _reshape(original, count)


def _reshape(value: str, count: int) -> str:
    """`value` with each digit and letter replaced by a fixed fake one (case kept), the rest
    (spaces, dashes, brackets) as it was: the same shape, none of the value."""
    digits, letters, out = 0, 0, []
    for char in value:
        if char.isdigit():
            out.append(str((digits + count + 1) % 10))
            digits += 1
        elif char.isalpha():
            fake = "ABCDEFGHJKLMNPQRSTUVWXYZ"[(letters + count) % 24]
            out.append(fake.lower() if char.islower() else fake)
            letters += 1
        else:
            out.append(char)
    return "".join(out)


def _same_case(original: str, fake: str) -> str:
    if original.isupper() and len(original) > 1:
        return fake.upper()
    if original.islower():
        return fake.lower()
    return fake


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _luhn(digits: str) -> bool:
    """Whether `digits` pass the Luhn check every payment card number passes."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _luhn_valid(number: str) -> str:
    """`number` with its last digit made the Luhn check digit (a fake still looks a card)."""
    digits = _digits(number)
    for check in "0123456789":
        if _luhn(digits[:-1] + check):
            last = max(i for i, c in enumerate(number) if c.isdigit())
            return number[:last] + check + number[last + 1 :]
    return number


def _fold(word: str) -> str:
    """A word compared without case or accents ("Lefèvre" and "LEFEVRE" are one name)."""
    decomposed = unicodedata.normalize("NFKD", word.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
