import pytest

from procobs_dagster_tests.delivery.helpers import SECRET, SECRET_ENV, FakeClock, Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


@pytest.fixture
def clock():
    return FakeClock()
