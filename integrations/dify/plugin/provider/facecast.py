from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from facecast_client import FacecastClient, FacecastError


class FacecastProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        """One authenticated request: a wrong URL, an unreachable host or a wrong key fails here, not later."""
        try:
            FacecastClient(credentials, timeout_s=10).check()
        except FacecastError as exc:
            raise ToolProviderCredentialValidationError(str(exc)) from exc
