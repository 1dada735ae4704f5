"""Org units, users, roles, login sessions and API tokens."""
