"""textkit: small text utilities."""
