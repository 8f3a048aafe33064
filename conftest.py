"""Root conftest: the suite's own tests drive the plugin end to end with pytester."""

import pytest
from hypothesis import Phase, settings

pytest_plugins = ["pytester"]

# The fault catalogue needs to know *that* a fault is caught, not its minimal example: skip
# shrinking (most of the time of a failing run) and the explain phase. Derandomized, from
# Hypothesis's own default profile: the same examples here and in CI (where Hypothesis would
# otherwise load its 'ci' profile as the parent), so a fault missed is missed on every machine.
settings.register_profile(
    "catalogue",
    parent=settings.get_profile("default"),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.fixture(autouse=True)
def _hypothesis_profile_restored():
    """An in-process run (pytester) loads its --hypothesis-profile for the whole process: the next
    test in this process must not inherit it (the catalogue profile does not shrink)."""
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)
