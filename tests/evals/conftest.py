"""The emulated workspace of the apply tests (its endpoint token stored as a workspace secret)."""

from tests.apply.conftest import world  # noqa: F401 (a fixture)
