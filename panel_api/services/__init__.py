"""Work the routers delegate: Telegram checks, course uploads and diffs, Sheets imports."""
