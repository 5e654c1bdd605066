"""The console's login as an attacker meets it: nobody can lock a counsellor out, guessing is
slowed, password checks are bounded, and another site cannot log her browser in.

The gateway runs behind a reverse proxy it trusts (127.0.0.1, as `MAAK_TRUSTED_PROXIES` says), so
each test can speak from several client addresses through `X-Forwarded-For`; 127.0.0.2 is a
client the gateway does not trust.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from bot.app import STORE
from core.proxies import client_address, parse_networks
from handoff.accounts import add_user
from handoff.console import auth
from tests.support.fakes import FakeRasa, serve
from tests.support.gateway import BACKENDS, served_gateway

PASSWORD = "correct horse battery"


@pytest.fixture(params=BACKENDS)
async def gateway(request, tmp_path) -> AsyncIterator[str]:
    env = {"MAAK_TRUSTED_PROXIES": "127.0.0.1", "MAAK_PUBLIC_URL": "https://maak.example"}
    async for rasa_url in serve(FakeRasa().app()):
        async with served_gateway(tmp_path / "var", request.param, rasa_url, env) as (url, _, app):
            store = app[STORE]
            for name in ("amina", "salma"):
                await store.run(add_user, store, name, "counsellor", PASSWORD)
            yield f"{url}/api/auth/login"


async def _login(http: aiohttp.ClientSession, url: str, name: str, password: str, sender: str | None = None,
                 **headers: str) -> aiohttp.ClientResponse:
    """A login as the proxy forwards it for `sender` (or straight from the connection)."""
    if sender is not None:
        headers["X-Forwarded-For"] = sender
    async with http.post(url, json={"username": name, "password": password}, headers=headers) as response:
        await response.read()
        return response


async def test_a_strangers_failures_never_refuse_her_right_password(gateway):
    async with aiohttp.ClientSession() as http:
        for _ in range(auth.MAX_FAILURES_PER_NAME):
            assert (await _login(http, gateway, "salma", "guess guess", "203.0.113.9")).status == 401
        # The stranger is stopped, even when she guesses right...
        stopped = await _login(http, gateway, "salma", PASSWORD, "203.0.113.9")
        assert stopped.status == 429 and int(stopped.headers["Retry-After"]) > 0
        # ...and Salma, from her own address, is not.
        assert (await _login(http, gateway, "salma", PASSWORD, "198.51.100.7")).status == 200


async def test_many_failures_from_one_address_slow_it_down_and_raise_an_alert(gateway, monkeypatch, caplog):
    monkeypatch.setattr(auth, "ADDRESS_SLOWDOWN_SECONDS", 0.3)
    office = "192.0.2.44"  # one office, or one mobile carrier: many people behind one address
    caplog.set_level(logging.INFO, logger="handoff.console.auth")
    async with aiohttp.ClientSession() as http:
        for attempt in range(auth.MANY_FAILURES_PER_ADDRESS):
            name = f"name{attempt % 5}"
            assert (await _login(http, gateway, name, "guess guess", office)).status == 401
        assert [r for r in caplog.records if getattr(r, "event", "") == "login_failures_alert"]
        slowed = asyncio.get_running_loop().time()
        # Amina works from that office: her right password still opens, a little later.
        assert (await _login(http, gateway, "amina", PASSWORD, office)).status == 200
        assert asyncio.get_running_loop().time() - slowed >= 0.3


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(gateway):
    untrusted = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=untrusted) as http:
        for attempt in range(auth.MAX_FAILURES_PER_NAME):
            # A new "address" each time: written by the client itself, so it counts for nothing.
            assert (await _login(http, gateway, "salma", "guess guess", f"203.0.113.{attempt}")).status == 401
        assert (await _login(http, gateway, "salma", PASSWORD, "203.0.113.200")).status == 429


async def test_password_checks_are_bounded_under_a_flood(gateway, monkeypatch):
    running = peak = 0
    check = auth.check_password

    def counted(*args):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return check(*args)
        finally:
            running -= 1

    monkeypatch.setattr(auth, "check_password", counted)
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(
            _login(http, gateway, f"flood{n}", "guess guess", f"198.51.100.{n}") for n in range(60)))
        statuses = [a.status for a in answers]
        assert peak <= auth.HASHES_AT_ONCE
        busy = [a for a in answers if a.status == 503]
        assert busy and all(int(a.headers["Retry-After"]) > 0 for a in busy)
        assert set(statuses) <= {401, 503}
        # The flood over, a counsellor logs in as ever.
        assert (await _login(http, gateway, "amina", PASSWORD, "198.51.100.250")).status == 200


async def test_a_login_is_json_only_and_never_from_another_sites_page(gateway):
    body = {"username": "amina", "password": PASSWORD}
    async with aiohttp.ClientSession() as http:
        # A form on a stranger's site posts url-encoded or text bodies: refused before anything is read.
        async with http.post(gateway, data=body) as form:
            assert form.status == 415
        async with http.post(gateway, data='{"username": "amina", "password": "x"}',
                             headers={"Content-Type": "text/plain"}) as text:
            assert text.status == 415
        for origin in ("https://evil.example", "null"):
            assert (await _login(http, gateway, "amina", PASSWORD, Origin=origin)).status == 403
        # Her own console page, and a script with no Origin, log in.
        assert (await _login(http, gateway, "amina", PASSWORD, Origin=gateway.rsplit("/api", 1)[0])).status == 200
        right = await _login(http, gateway, "amina", PASSWORD)
        assert right.status == 200
        # Behind the TLS proxy of its public address, the cookie never travels in clear.
        assert "Secure" in right.headers["Set-Cookie"]


def test_the_client_address_is_the_nearest_hop_a_trusted_proxy_reports():
    trusted = parse_networks("10.0.0.0/8, 127.0.0.1")

    def seen(remote: str, *forwarded: str) -> str:
        headers = [("X-Forwarded-For", value) for value in forwarded]
        request = make_mocked_request("POST", "/", headers=headers, transport=_Transport(remote))
        return client_address(request, trusted)

    assert seen("203.0.113.5") == "203.0.113.5"
    assert seen("203.0.113.5", "198.51.100.1") == "203.0.113.5"  # not a proxy of ours: the header is hers
    assert seen("127.0.0.1", "198.51.100.1") == "198.51.100.1"
    assert seen("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3") == "198.51.100.1"  # left of it: her own words
    assert seen("127.0.0.1", "6.6.6.6", "198.51.100.1") == "198.51.100.1"  # several headers read as one list
    assert seen("127.0.0.1") == "127.0.0.1"
    assert seen("127.0.0.1", "10.0.0.1, 127.0.0.1") == "127.0.0.1"  # proxies all the way: the nearest
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, not-an-address")


class _Transport:
    """The part of a transport `request.remote` reads."""

    def __init__(self, peer: str) -> None:
        self._peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self._peer, 40000) if name == "peername" else default
