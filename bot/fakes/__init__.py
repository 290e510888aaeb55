"""Local stand-ins for the platforms (Telegram, X), speaking their wire formats."""
