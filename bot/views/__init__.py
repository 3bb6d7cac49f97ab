"""What the bot shows: job cards, clip posts and their buttons, built by pure functions from records."""
