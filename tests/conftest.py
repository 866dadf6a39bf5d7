"""Suite-wide test settings."""

from hypothesis import settings

# Property tests judge answers, never speed: on a shared CI machine a single example can take
# longer than Hypothesis's default 200 ms deadline, which would fail a correct test.
settings.register_profile("failsync", deadline=None)
settings.load_profile("failsync")
