"""Custom Rasa NLU components for Relais (these modules import Rasa; bot/ and handoff/ never do).

Rasa imports this package when it loads a Relais model, so the fix to Rasa's own hot path
in `speedups` is in place in every Rasa server that runs Relais.
"""
from relais.nlu import speedups

speedups.apply()
