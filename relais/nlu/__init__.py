"""Custom Rasa NLU components for Relais (these modules import Rasa; bot/ and handoff/ never do)."""
