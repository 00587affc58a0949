"""Rendering a built page in headless Chromium (Debian package, installed by `make test`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def render_in_browser(html: Path, timeout: int = 60) -> str:
    """The DOM of a built page as headless Chromium renders it (for the browser check)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FileNotFoundError(
            "Chromium is not installed (Debian package 'chromium'; `make test` installs it)."
        )
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ]
    result = subprocess.run(
        [chromium, *flags, html.resolve().as_uri()], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"Chromium failed on {html}: {result.stderr[-2000:]}")
    return result.stdout
