"""The planflow command line."""
