"""Subscribers: validating what they give, CSV import and export, their signed links."""
