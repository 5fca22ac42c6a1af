"""The Telegram-agnostic core of the runtime: the journal that applies every event to its run
(admission, step planning, group commit), the timer scheduler, and the caches they read.

It knows nothing of aiogram or of the Bot API: adapters/telegram translates updates into
`runtime.inbound.Inbound`, hands them to the journal and sends what the outbox holds.
"""
