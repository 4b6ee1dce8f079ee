"""Screenshot of the widget answering on the demo page, for the README (docs/widget.png).

Run with a server up (`make serve`): python bench/screenshot.py [--base http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/widget.png"))
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(f"{args.base}/")
        box = page.get_by_role("textbox", name="Your question")
        for n, question in enumerate(("Who is Wisam al-Arab?", "Where does he live?"), 1):
            box.fill(question)
            box.press("Enter")
            expect(page.locator("briefing-chat").locator(".a")).to_have_count(n)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
