"""HTTP layer: routers, request/response schemas and named dependencies."""
