"""What Dify checks when a DSL file is imported, re-implemented from its sources for testing our workflows.

- langgenius/dify api/services/dsl_version.py (check_version_compatibility) and api/constants/dsl_version.py
  (CURRENT_APP_DSL_VERSION): a newer version, or an older major, waits for the user to confirm; an older
  minor imports with a warning.
- langgenius/dify api/services/app_dsl_service.py (AppDslService.import_app): a non-empty `dependencies` list
  is validated as PluginDependency and checked later; when it is empty and the version is at most 0.1.5,
  Dify derives the plugins from the graph and looks them up in the marketplace instead.
- langgenius/dify api/core/plugin/entities/plugin.py (PluginDependency): `type` github, marketplace or
  package, each with its own `value` fields.
- langgenius/dify api/services/plugin/dependencies_analysis.py (get_leaked_dependencies) sends every
  plugin_unique_identifier to the plugin daemon, which parses it with the regular expression of
  langgenius/dify-plugin-daemon pkg/entities/plugin_entities/identity.go: `author/name:version@checksum`,
  the checksum required, so `facecast/facecast:0.1.0` fails the dependency check.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import Version

CURRENT_APP_DSL_VERSION = "0.6.0"
LAST_VERSION_WITH_DERIVED_DEPENDENCIES = "0.1.5"
PLUGIN_UNIQUE_IDENTIFIER = re.compile(
    r"^(?:([a-z0-9_-]{1,64})\/)?([a-z0-9_-]{1,255}):([0-9]{1,4})(\.[0-9]{1,4}){1,3}(-\w{1,16})?@[a-f0-9]{32,64}$")
DEPENDENCY_VALUE_FIELDS = {  # the identifier field of each PluginDependency value type
    "github": "github_plugin_unique_identifier",
    "marketplace": "marketplace_plugin_unique_identifier",
    "package": "plugin_unique_identifier",
}


def import_status(imported: str, current: str = CURRENT_APP_DSL_VERSION) -> str:
    """check_version_compatibility: completed, completed-with-warnings or pending (asks the user)."""
    imported_version, current_version = Version(imported), Version(current)
    if imported_version > current_version or imported_version.major < current_version.major:
        return "pending"
    if imported_version.minor < current_version.minor:
        return "completed-with-warnings"
    return "completed"


def derives_dependencies(dsl: dict[str, Any]) -> bool:
    """Whether import_app looks the graph's plugins up in the marketplace (no `dependencies`, version <= 0.1.5)."""
    return not dsl.get("dependencies") and Version(str(dsl["version"])) <= Version(LAST_VERSION_WITH_DERIVED_DEPENDENCIES)


def dependency_problems(dsl: dict[str, Any]) -> list[str]:
    """Why Dify's PluginDependency model or the daemon's identifier check would refuse a listed dependency."""
    problems = []
    for dependency in dsl.get("dependencies") or []:
        field = DEPENDENCY_VALUE_FIELDS.get(dependency.get("type"))
        identifier = (dependency.get("value") or {}).get(field or "")
        if field is None or not isinstance(identifier, str):
            problems.append(f"not a PluginDependency: {dependency}")
        elif not PLUGIN_UNIQUE_IDENTIFIER.match(identifier):
            problems.append(f"the plugin daemon refuses the identifier {identifier!r} (author/name:version@checksum)")
    return problems
