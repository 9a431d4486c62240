"""Shared plumbing of the Specimen services.

Holds what every service needs in the same shape (settings base, JSON logs, problem+json
errors, token verification, health and metrics endpoints, the service app skeleton). It
imports no service, holds no database model and no ML code.
"""
