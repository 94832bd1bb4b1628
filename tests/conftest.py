import pytest

from bt import STRATEGIES


@pytest.fixture(params=STRATEGIES)
def strategy(request):
    """Every test that takes ``strategy`` runs under every strategy."""
    return request.param
