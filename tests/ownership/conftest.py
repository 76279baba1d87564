"""The ownership tests start from the same emulated workspace as the apply tests."""

from tests.apply.conftest import world  # noqa: F401
