"""Opens every page of the built documentation site in headless Chromium and searches it.

    mkdocs build --strict -d /tmp/site
    python docs/hooks/check_site.py /tmp/site --chromium=/usr/bin/chromium --screenshots=/tmp/shots

Every built page (each ``index.html``) must load with HTTP 200, render a first-level heading, log no
JavaScript error and leave no math untypeset (an ``arithmatex`` span without MathJax output, or a ``$``
left in a notebook's markdown cell); every notebook page must show cell outputs; each ``--math`` page
must hold typeset math (``mjx-container``); the search box must find ``Supervised`` (and each
``--query``). MathJax comes from the CDN named in mkdocs.yml; offline, ``--mathjax=DIR`` serves those
requests from a copy of the ``mathjax`` npm package (version 3; ``npm pack mathjax@3``, unpacked). Needs
the ``playwright`` Python package and a Chromium binary (Debian's ``chromium`` package); prints one line
per page and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import pathlib
import sys
import threading
from collections.abc import Sequence


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


_CONTENT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const wrapper = document.querySelector(".jupyter-wrapper");
  const spans = [...document.querySelectorAll(".arithmatex")].filter(e => !e.querySelector("mjx-container"));
  let raw = 0;
  for (const cell of document.querySelectorAll(".jp-MarkdownOutput")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      raw += node.textContent.includes("$") && !node.parentElement.closest("code, pre");
    }
  }
  return {
    notebook: wrapper !== null,
    math: document.querySelectorAll("mjx-container").length,
    untypeset: spans.length + raw,
    outputs: wrapper ? wrapper.querySelectorAll(".jp-OutputArea-output").length : 0,
    images: wrapper ? wrapper.querySelectorAll(".jp-OutputArea-output img").length : 0,
  };
}"""
"""Waits for MathJax's first typesetting, then counts math and notebook outputs on the page."""


def _serve_mathjax(page, mathjax: pathlib.Path) -> None:
    """Answers the page's requests for MathJax 3 from a CDN (`.../mathjax@3/<file>`) from `mathjax`."""

    def fulfill(route) -> None:
        name = route.request.url.split("mathjax@3/", 1)[1].split("?", 1)[0]
        path = mathjax / name
        route.fulfill(path=str(path)) if path.is_file() else route.abort()

    page.route("**/mathjax@3/**", fulfill)


def _content_problem(content: dict, path: str, math_pages: Sequence[str]) -> str:
    """What is wrong with a page's math and outputs (`_CONTENT`'s counts), or ''."""
    if content["untypeset"]:
        return f"{content['untypeset']} math expressions left untypeset"
    if content["notebook"] and not content["outputs"]:
        return "a notebook without outputs"
    if path.strip("/") in [p.strip("/") for p in math_pages] and not content["math"]:
        return "no typeset math"
    return ""


def check(
    site: pathlib.Path,
    chromium: str,
    queries: list[str],
    screenshots: pathlib.Path | None,
    math_pages: Sequence[str] = (),
    mathjax: pathlib.Path | None = None,
) -> int:
    """Visits every page and runs every query; returns the number of failed checks."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    server, base = _serve(site)
    failures = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        if mathjax is not None:
            _serve_mathjax(page, mathjax)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        for path in _page_paths(site):
            errors.clear()
            response = page.goto(base + path)
            headings = page.locator("article h1")
            heading = headings.first.inner_text() if headings.count() else ""
            content = page.evaluate(_CONTENT)
            problem = _content_problem(content, path, math_pages)
            ok = response is not None and response.status == 200 and heading and not errors and not problem
            failures += not ok
            counts = f"math {content['math']}" + (
                f", outputs {content['outputs']}, images {content['images']}" if content["notebook"] else ""
            )
            print(f"{'ok  ' if ok else 'FAIL'} /{path:<45} {heading[:50]!r} {counts} {problem} {errors[:1]}")
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                name = path.strip("/").replace("/", "_") or "index"
                page.screenshot(path=str(screenshots / f"{name}.png"), full_page=content["notebook"])
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
    parser.add_argument("--math", action="append", default=["architecture/", "notebooks/03_quickstart/"],
                        help="a page (site-relative, e.g. architecture/) that must show typeset math")
    parser.add_argument("--mathjax", type=pathlib.Path, default=None,
                        help="serve MathJax 3 from this copy of the mathjax npm package (offline checks)")
    args = parser.parse_args(argv)
    failures = check(args.site, args.chromium, args.query, args.screenshots, args.math, args.mathjax)
    print(f"{failures} failed checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
