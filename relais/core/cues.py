"""Surface cues in a message, English and French: anger markers, legal claims, safety words.

Plain Python (no Rasa): the anger component uses `anger_cues`, the policy `legal_claim` and
`safety_issue`.
"""

from __future__ import annotations

import re

_SWEARS = re.compile(
    r"\b(f+u+c+k+\w*|f\*+k?\w*|wtf|shit\w*|crap|damn\w*|bs|bullshit|hell|pissed|screw(ed)? you|"
    r"idiots?|useless|incompetent|pathetic|ridiculous|disgrace\w*|joke|scam\w*|clowns?|"
    r"putain|ptn|merde\w*|bordel|foutage|fout(ez|re|u)|con(s|nards?)?|connerie\w*|honte\w*|"
    r"honteu\w+|scandal\w*|inadmissible|inacceptable|n'importe quoi|nimporte quoi|"
    r"ras[- ]le[- ]bol|marre|nul(le|s)?|incomp[ée]tent\w*|escro\w*|arnaque\w*|minable\w*|"
    r"tabarnak|c[âa]lisse|crisse|ostie)\b",
    re.IGNORECASE,
)
_ANGRY_EMOJI = re.compile(
    "[\U0001f621\U0001f92c\U0001f4a2\U0001f624\U0001f644\U0001f44e\U0001f595]"
)
_LEGAL = re.compile(
    r"\b(lawyers?|attorneys?|sue|suing|lawsuit|legal action|court|small claims|eu ?261|"
    r"ec ?261|regulation 261|compensation|chargeback|charge back|dispute the charge|"
    r"journalists?|the press|consumer (rights|protection)|ombudsman|"
    r"avocats?|poursuivre|poursuites|tribunal|proc[èe]s|ce ?261|r[èe]glement 261|"
    r"indemni\w+|d[ée]dommag\w+|r[ée]trofacturation|opposition bancaire|"
    r"journalistes?|la presse|dgac|m[ée]diateur|60 millions)\b",
    re.IGNORECASE,
)
_SAFETY = re.compile(
    r"\b(unsafe|danger\w*|injur\w*|hurt|bleeding|accident|emergency|smoke|fire|"
    r"harass\w*|assault\w*|racis\w*|discriminat\w*|sexual|abuse\w*|threat\w*|"
    r"heart attack|seizure|allerg\w+|medical|unconscious|pregnan\w+ and (bleeding|pain)|"
    r"dangereu\w*|bless[ée]\w*|saign\w*|urgence|fum[ée]e|incendie|harc[èe]lement|"
    r"agress\w*|discrimin\w*|malaise|crise cardiaque|m[ée]dical\w*|inconscient\w*|"
    r"menac\w*|insult[ée]\w* (par|à cause))\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")


def anger_cues(text: str) -> list[float]:
    """Numbers a reader uses to hear anger: shouting, !!!, swearing, angry emoji.

    Question marks are left out on purpose: "any news on my refund??" is impatience,
    which the bot answers itself.
    """
    words = _WORD.findall(text)
    long_words = [w for w in words if len(w) >= 3]
    caps = sum(w.isupper() for w in long_words) / len(long_words) if long_words else 0.0
    return [
        caps,
        min(text.count("!"), 5) / 5,
        float("!!" in text),
        min(len(_SWEARS.findall(text)), 3) / 3,
        min(len(_ANGRY_EMOJI.findall(text)), 3) / 3,
    ]


def legal_claim(text: str) -> bool:
    """Lawyer, court, EU261, chargeback, press…: a claim a person must handle."""
    return bool(_LEGAL.search(text))


def safety_issue(text: str) -> bool:
    """Safety, health or discrimination."""
    return bool(_SAFETY.search(text))
