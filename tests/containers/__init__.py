"""Container image checks (Dockerfile, build context, build scripts)."""
