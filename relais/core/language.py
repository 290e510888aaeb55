"""Language cues shared by the NLU component and the bot side (no Rasa import here)."""

from __future__ import annotations

import re

EN = "en"
FR = "fr"
#: A language Relais does not answer in (Spanish, German, Italian, Portuguese…).
OTHER = "other"
SUPPORTED = (EN, FR)

# Function words that are frequent in one language and rare in the others.
_EN_WORDS = frozenset(
    "the my is are was what when where why how can could would please thanks thank you "
    "your with have has just still not don't can't it's i'm flight bag".split()
)
_FR_WORDS = frozenset(
    "le les mon ma mes est et je j'ai vous votre pour pas avec une des du au aux quand "
    "comment pourquoi merci svp stp c'est j'ai bonjour vol valise bagage où".split()
)
_OTHER_WORDS = frozenset(
    # Spanish
    "el los las mi vuelo está gracias hola por favor dónde cuándo maleta quiero necesito "
    # German
    "der die das und ich nicht mein meine flug ist wo wann bitte danke koffer haben "
    # Italian
    "il gli mio volo sono dove quando grazie ciao valigia voglio "
    # Portuguese
    "meu minha voo obrigado obrigada onde quando mala quero não".split()
)
_WORD = re.compile(r"[a-zàâäçéèêëîïôöùûüÿœæñßãõ']+")


def cue_language(text: str) -> str | None:
    """Language suggested by function words alone, or None when they say nothing clear."""
    words = _WORD.findall(text.lower())
    en = sum(w in _EN_WORDS for w in words)
    fr = sum(w in _FR_WORDS for w in words)
    other = sum(w in _OTHER_WORDS and w not in _EN_WORDS and w not in _FR_WORDS for w in words)
    if other >= 2 and other > 2 * (en + fr):
        return OTHER
    if en > fr:
        return EN
    if fr > en:
        return FR
    return None
