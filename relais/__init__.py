"""Relais: a customer-service assistant for direct messages, built on Rasa."""

__version__ = "0.1.0"
