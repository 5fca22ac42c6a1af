"""Telegram's Bot API as both the runtime (adapters) and the panel (panel_api) use it.

Building a `Bot` on the right API server, what a bot token looks like and asking Telegram
whether it works (getMe), and the enrollment deep-link format. It sits below both so that
neither imports the other; it needs aiogram, which engine, courses and storage must not.
"""
