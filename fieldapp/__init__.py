"""The grid workers' field app (``/m/``): an offline-first PWA over the phone API.

Nothing here reads the database: the app signs in through ``/api/v1/auth/token``, keeps the
member's worklist, warnings and unsent visits in the phone's IndexedDB and syncs them with
``/visits/sync`` and the warning events.  A Workbox service worker (built by ``make fieldapp``)
precaches the shell and its libraries so the app opens with no network.
"""
