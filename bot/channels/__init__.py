"""DM channels that push: Telegram and X. Each turns platform updates into `Inbound`
messages and delivers `Outgoing` ones (the web chat lives in bot/web.py)."""
