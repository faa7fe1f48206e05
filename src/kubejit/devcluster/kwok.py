"""kwok: placeholder replaced below."""
