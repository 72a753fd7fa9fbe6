from tests.api.conftest import api, api_factory

__all__ = ["api", "api_factory"]
