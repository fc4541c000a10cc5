"""Pack integrations/dify/plugin into facecast-<version>.difypkg (what `dify plugin package` produces: a zip of
the plugin folder with manifest.yaml at its root), after checking every manifest with the dify_plugin SDK.

    python integrations/dify/pack.py [-o OUTPUT_DIR]
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import zipfile
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "plugin"
MAX_BYTES = 50 * 1024 * 1024  # Dify refuses larger packages by default (PLUGIN_MAX_PACKAGE_SIZE)


def ignored_patterns() -> list[str]:
    ignore = PLUGIN / ".difyignore"
    lines = ignore.read_text().splitlines() if ignore.is_file() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def files_to_pack() -> list[Path]:
    patterns = ignored_patterns()
    kept = []
    for path in sorted(PLUGIN.rglob("*")):
        relative = path.relative_to(PLUGIN)
        if path.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in relative.parts
                                      for pattern in patterns):
            kept.append(path)
    return kept


def check_with_sdk() -> str:
    """Load the manifests and classes the way the plugin runtime does; returns the plugin version."""
    os.chdir(PLUGIN)
    sys.path.insert(0, str(PLUGIN))
    from dify_plugin.config.config import DifyPluginEnv
    from dify_plugin.core.plugin_registration import PluginRegistration

    registration = PluginRegistration(DifyPluginEnv())
    return registration.configuration.version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path.cwd(), help="directory for the .difypkg")
    args = parser.parse_args()
    output = args.output.resolve()
    version = check_with_sdk()
    output.mkdir(parents=True, exist_ok=True)
    target = output / f"facecast-{version}.difypkg"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as package:
        for path in files_to_pack():
            package.write(path, path.relative_to(PLUGIN).as_posix())
    if target.stat().st_size > MAX_BYTES:
        sys.exit(f"error: {target} is larger than {MAX_BYTES} bytes")
    print(f"wrote {target} ({target.stat().st_size} bytes); install it in Dify: Plugins > Install from local file")


if __name__ == "__main__":
    main()
