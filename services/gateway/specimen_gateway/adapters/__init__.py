"""The gateway's I/O: aiohttp sessions to the upstreams and the ASGI proxy built on them."""
