"""`coursebot import-profochatbot`: an old ProfoChatBot installation moved into one account.

A bulk migration, not live traffic: it reads the old database (`legacy_db`, either shape),
turns courses into versions the way an upload does, and inserts bots, deployments, runs,
their history, pending delays, bans and allow-lists directly, in one RLS-scoped transaction
for the account (`importer`), so a failure leaves nothing half-done. What cannot be mapped
is reported, never fatal (`summary`). Runs are placed with the engine's own rules
(`positions`).

It reads `courses` (to make versions exactly as an upload does), `engine` (run states) and
writes through `storage`: a tool on top of the three, reached only from runner.py.
"""
