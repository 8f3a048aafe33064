"""Root conftest: the suite's own tests drive the plugin end to end with pytester."""

from hypothesis import Phase, settings

pytest_plugins = ["pytester"]

# The fault catalogue needs to know *that* a fault is caught, not its minimal example:
# skip shrinking (most of the time of a failing run) and the explain phase.
settings.register_profile("catalogue", phases=[Phase.explicit, Phase.reuse, Phase.generate])
