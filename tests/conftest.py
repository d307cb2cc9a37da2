"""Hypothesis profiles: ``ci`` (default) draws a fixed set of examples, so CI is repeatable;
``EBL_HYPOTHESIS_PROFILE=thorough`` draws 300 fresh random examples per property."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("EBL_HYPOTHESIS_PROFILE", "ci"))
