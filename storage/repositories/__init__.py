"""Thin data access, one module per aggregate.

Every function takes the session and the `account_id` explicitly and filters by it, even
though RLS would hide other accounts' rows anyway: two independent locks on the same door.
Use them inside `db.tenant(account_id)`; account creation is `storage.system.create_account`.
"""
