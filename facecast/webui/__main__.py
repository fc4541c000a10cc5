"""`python -m facecast.webui --api http://host:8000`: the web UI on its own, for a facecast server elsewhere."""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m facecast.webui", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="facecast API base URL")
    parser.add_argument("--api-key", default=os.environ.get("FACECAST_API_KEY"),
                        help="API key for every page (a one-user UI; default: $FACECAST_API_KEY)")
    parser.add_argument("--sign-in", action="store_true",
                        help="each page signs in with its own API key instead (a shared UI)")
    parser.add_argument("--host", default="127.0.0.1", help="address the UI binds")
    parser.add_argument("--port", type=int, default=7860, help="port the UI binds")
    args = parser.parse_args()

    from .app import CSS, THEME, build_ui

    build_ui(args.api, None if args.sign_in else args.api_key, sign_in=args.sign_in).launch(
        server_name=args.host, server_port=args.port, share=False, theme=THEME, css=CSS, footer_links=["api"],
        ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, show_error=True)


if __name__ == "__main__":
    main()
