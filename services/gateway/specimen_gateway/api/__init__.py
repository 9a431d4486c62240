"""Thin routers for the endpoints the gateway answers itself (docs, merged OpenAPI)."""
