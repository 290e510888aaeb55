"""Relais custom actions: grounded replies from the customer's records, in their language.

`rasa run actions --actions actions` imports every module of this package, which registers
each action class (one module per topic; texts in texts.yml; SQL in queries.py).
"""
