"""The web UI: server-rendered pages (Jinja2) and small ES modules, a client of the public API.

The pages hold no data and no role rules of their own: each page's module asks ``/api/v1/…``
through the gateway like any other client, authenticated by the session cookies that
:mod:`specimen_gateway.web.session` sets (see :mod:`specimen_gateway.domain.browser_session`).
"""
