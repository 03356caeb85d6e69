"""Shared test set-up: hypothesis profiles, backends, the datasets folder."""
import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

# AUTOGRAD_HYPOTHESIS_PROFILE=dev (quick), ci (the default) or thorough (before a release).
settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("AUTOGRAD_HYPOTHESIS_PROFILE", "ci"))

DATASETS = pathlib.Path(os.environ.get(
    "AUTOGRAD_DATASETS", pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"))


@pytest.fixture(params=["numpy", "c"])
def backend(request):
    """Run a test once per backend; skipped for "c" when the extension is not built."""
    import autograd as ag

    if request.param not in ag.backend.available():
        if os.environ.get("AUTOGRAD_REQUIRE_C"):  # CI: a missing build must fail, not skip
            pytest.fail("the compiled C backend is not built", pytrace=False)
        pytest.skip("the compiled C backend is not built")
    with ag.backend.use(request.param):
        yield request.param


@pytest.fixture
def datasets_dir():
    if not DATASETS.is_dir():
        pytest.skip(f"datasets folder {DATASETS} not found (set AUTOGRAD_DATASETS)")
    return DATASETS
