"""Read queries the panel needs beyond the repositories (filtered lists, analytics).

Every function takes `account_id` and filters by it, like the repositories do, on top of RLS.
"""
