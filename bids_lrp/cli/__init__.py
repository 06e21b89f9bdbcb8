"""Command-line entry points (argparse only; nothing runs at import time)."""
