def test_placeholder(client):
    assert client.get("/api/v1/health").status_code == 200
