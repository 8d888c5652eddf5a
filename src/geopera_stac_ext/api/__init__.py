"""The HTTP surface: op routes, the STAC API client, byte routes, problem+json handlers and middleware."""
