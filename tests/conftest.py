"""Hypothesis profiles: ``ci`` (default) draws a fixed set of examples, so CI is repeatable;
``EBL_HYPOTHESIS_PROFILE=thorough`` draws 300 fresh random examples per property."""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("EBL_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache folder (the data package's default data folder
    and decoded-data cache) or follows EBL_DATA_DIR / EBL_CACHE_DIR from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("EBL_DATA_DIR", raising=False)
    monkeypatch.delenv("EBL_CACHE_DIR", raising=False)
