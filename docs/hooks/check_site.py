"""Opens every page of the built documentation site in headless Chromium and searches it.

    mkdocs build --strict -d /tmp/site
    python docs/hooks/check_site.py /tmp/site --chromium=/usr/bin/chromium --screenshots=/tmp/shots

Every built page (each ``index.html``) must load with HTTP 200, render a first-level heading
and log no JavaScript error; the search box must find ``Supervised`` (and each ``--query``). Needs the
``playwright`` Python package and a Chromium binary (Debian's ``chromium`` package); prints one line per
page and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import pathlib
import sys
import threading


def _page_paths(site: pathlib.Path) -> list[str]:
    """Site-relative paths of the built pages (every ``index.html``, as its directory ``dir/``)."""
    pages = sorted(site.rglob("index.html"))
    return [str(page.parent.relative_to(site)).replace(".", "", 1) + "/" if page.parent != site else ""
            for page in pages if "assets" not in page.parts]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per page is printed instead
        pass


def _serve(site: pathlib.Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check(site: pathlib.Path, chromium: str, queries: list[str], screenshots: pathlib.Path | None) -> int:
    """Visits every page and runs every query; returns the number of failed checks."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    server, base = _serve(site)
    failures = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        for path in _page_paths(site):
            errors.clear()
            response = page.goto(base + path)
            headings = page.locator("article h1")
            heading = headings.first.inner_text() if headings.count() else ""
            ok = response is not None and response.status == 200 and heading and not errors
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} /{path:<45} {heading[:50]!r} {errors[:1]}")
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                name = path.strip("/").replace("/", "_") or "index"
                page.screenshot(path=str(screenshots / f"{name}.png"))
        for query in queries:
            page.goto(f"{base}?q={query}")
            try:
                page.wait_for_selector(".md-search-result__item", timeout=15_000)
            except PlaywrightTimeout:
                pass
            titles = page.locator(".md-search-result__item").all_inner_texts()
            ok = any(query in title for title in titles)
            failures += not ok
            first = repr(titles[0][:60]) if titles else "none"
            print(f"{'ok  ' if ok else 'FAIL'} search {query!r}: {len(titles)} results, first {first}")
        browser.close()
    server.shutdown()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=pathlib.Path, help="the directory `mkdocs build` wrote")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary")
    parser.add_argument("--query", action="append", default=["Supervised"], help="a search that must hit")
    parser.add_argument("--screenshots", type=pathlib.Path, default=None, help="save a PNG per page here")
    args = parser.parse_args(argv)
    failures = check(args.site, args.chromium, args.query, args.screenshots)
    print(f"{failures} failed checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
