"""Pure gateway rules: the route table, header rules, OpenAPI merging. No web framework."""
