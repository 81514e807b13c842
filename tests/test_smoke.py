from tests.conftest import bearer, register


async def test_health(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_register_and_me(client):
    pair = await register(client, email="Smoke@Example.com", username="smokey")
    me = await client.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "smoke@example.com"
