"""Hypothesis profiles: ``EBL_HYPOTHESIS_PROFILE=thorough`` runs many more examples."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("EBL_HYPOTHESIS_PROFILE", "ci"))
