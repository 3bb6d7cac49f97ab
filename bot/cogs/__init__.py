"""The bot's slash commands, one cog per concern (requests, autoclip, tuning, admin)."""
