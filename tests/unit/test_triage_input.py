"""`relais triage`'s input reader on its own: no model is loaded to read JSON lines.

(Moved out of tests/e2e/test_triage.py, whose other tests need the model and the servers.)
"""

from __future__ import annotations

import io

from relais.tools.triage import read_inputs


def test_input_reader_skips_blank_lines() -> None:
    parsed = list(read_inputs(io.StringIO('\n{"text": "a"}\n\n[1]\n')))
    assert parsed == [("a", None), (None, 'line 4: expected an object with a string "text"')]


def test_input_reader_names_the_line_of_each_error() -> None:
    parsed = list(read_inputs(io.StringIO('not json\n{"txt": 1}\n{"text": ""}\n')))
    text, error = parsed[0]
    assert text is None and error is not None and error.startswith("line 1: not JSON")
    assert parsed[1] == (None, 'line 2: expected an object with a string "text"')
    assert parsed[2] == ("", None)  # an empty text is a text: triage says what it makes of it
