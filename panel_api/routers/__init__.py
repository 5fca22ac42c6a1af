"""One router per resource; `panel_api.app` mounts them under /api/v1."""
