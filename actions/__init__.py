"""Relais custom actions: grounded replies from the customer's records, in their language.

The action server (`python -m actions.server`, rasa_sdk's app behind ACTIONS_SECRET) imports
every module of this package, which registers each action class (one module per topic; texts
in texts.yml; SQL in queries.py).
"""
