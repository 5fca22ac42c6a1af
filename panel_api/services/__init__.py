"""What the panel does, one module per resource: the rules (plan limits, validation beyond
a request's shape, audit records, queries) that both the JSON API (`panel_api/routers/`) and
the pages (`panel_api/web/routes/`) call. Functions take the context, the caller's `Access`
(or user) and plain arguments, and return the API's models (large answers as ready JSON
text); a refusal is an `ApiError` (`panel_api/errors.py`), which the API answers as JSON and
a page shows as its message.

Beside them, the work they share: course checks in worker processes (`course_work`), storing
versions (`course_store`), diffs (`course_diff`) and Google Sheets access (`sheets_access`).
"""
