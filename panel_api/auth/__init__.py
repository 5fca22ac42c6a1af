"""Who is calling: Telegram Login Widget sign-in, session cookies, API keys."""
