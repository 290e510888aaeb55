"""What the sentence encoder and the word n-grams read of a message."""

from __future__ import annotations


def test_the_embedded_text_reads_hashtags_as_words_and_drops_handles_and_links() -> None:
    from relais.ml.encoder import plain

    assert plain("@CelesteAir lost my bag AGAIN #NeverAgain https://x.co/a #fail") == (
        "lost my bag AGAIN Never Again fail"
    )
    assert plain("#RasLeBol, issue #42, C# stays") == "Ras Le Bol, issue 42, C# stays"
