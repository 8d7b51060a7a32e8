"""The supervisors' dashboard: one page of static HTML and JavaScript over the API.

Nothing here reads the database: the page signs in through ``/api/v1/auth/token`` and
draws what the API and its vector tiles answer, in the caller's scope.
"""
