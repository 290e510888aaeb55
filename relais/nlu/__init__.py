"""Custom Rasa NLU components for Relais: the only package that imports Rasa.

Rasa imports these modules when it loads a Relais model; the fix to Rasa's own hot path in
`speedups` is applied when a component is created or loaded, never at import.
"""
