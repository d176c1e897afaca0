"""associate package."""
