"""Specimen gateway: the one public entry of the suite.

It checks the access token and the route's role, limits request rates and body sizes, and
forwards each request to the service that owns its path (users, segment, classify). It also
serves the suite's merged OpenAPI document and an offline Swagger UI.
"""
