"""How the NLU models see a text: codes replaced by their kind."""

from __future__ import annotations

from relais.core.codes import brand_codes
from relais.ml.encoder import plain


def normalise(text: str) -> str:
    """Lower case, with each code replaced by its kind: the value says nothing of the intent."""
    codes = brand_codes()
    text = codes.flight_in_text.sub(" xyflight ", plain(text).lower())
    return codes.reference_in_text.sub(" xyref ", text)
