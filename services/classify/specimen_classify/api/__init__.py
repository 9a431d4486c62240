"""HTTP routers: parse the request, call the domain, map the result to a response schema."""
