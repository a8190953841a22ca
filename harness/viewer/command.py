"""``harness view DIR [--bundle OUT]``: check the folder, then serve it or write the bundle."""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from typing import Any

from harness.viewer.bundle import BundleError, write_bundle
from harness.viewer.catalog import scan
from harness.viewer.server import ViewerServer
from harness.viewer.site import Site


def view(args: argparse.Namespace, pm: Any) -> int:
    root = args.dir
    if not root.is_dir():
        print(f"harness view: {root}: expected a results folder (one holding results_*.json files); "
              f"{'it is a file' if root.exists() else 'it does not exist'}", file=sys.stderr)
        return 2
    catalog = scan(root)
    for problem in catalog.problems:
        print(f"harness view: note: {problem}", file=sys.stderr)
    if not catalog.runs:
        print(f"harness view: {root}: no readable results_*.json files under it", file=sys.stderr)
        return 2
    if args.bundle is not None:
        site = Site(catalog, pm, bundle=True)
        try:
            counts = write_bundle(site, args.bundle)
        except BundleError as err:
            print(f"harness view: {err}", file=sys.stderr)
            return 2
        print(f"wrote {args.bundle / 'index.html'}: {counts['runs']} runs, {counts['pages']} sample pages, "
              f"{counts['comparisons']} comparisons")
        return 0
    try:
        server = ViewerServer(Site(catalog, pm), root, args.port)
    except OSError as err:
        print(f"harness view: cannot listen on 127.0.0.1:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"harness view: {len(catalog.runs)} runs under {root} at {server.url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        _open_browser(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _open_browser(url: str) -> None:
    """Open ``url`` where there is a desktop; never a terminal browser (it would take over this terminal)."""
    desktop = sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not desktop:
        return  # a remote shell: the printed address is enough
    try:
        webbrowser.get()
    except webbrowser.Error:
        return
    webbrowser.open(url)
