"""Login, sessions, bearer tokens, CSRF and the login rate limit."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.conftest import bearer, csrf, login


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_login_sets_safe_session_cookie(client: TestClient) -> None:
    token = csrf(client)
    response = client.post(
        "/login", data={"username": "cadre_a", "password": "secret-pass-1", "_csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("minqing_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert client.get("/today").status_code == 200


def test_wrong_password_is_refused_in_chinese(client: TestClient) -> None:
    token = csrf(client)
    response = client.post("/login", data={"username": "cadre_a", "password": "nope-nope", "_csrf": token})
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text
    assert "minqing_session" not in client.cookies


def test_login_form_without_csrf_token_is_refused(client: TestClient) -> None:
    csrf(client)
    response = client.post("/login", data={"username": "cadre_a", "password": "secret-pass-1"})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_login_rate_limit_per_account(client: TestClient) -> None:
    token = csrf(client)
    for _ in range(5):
        response = client.post("/login", data={"username": "cadre_a", "password": "wrong-pass", "_csrf": token})
        assert response.status_code == 401
    response = client.post("/login", data={"username": "cadre_a", "password": "secret-pass-1", "_csrf": token})
    assert response.status_code == 429
    assert "1 分钟后再试" in response.text


def test_anonymous_page_redirects_to_login(client: TestClient) -> None:
    response = client.get("/today", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].startswith("/login")


def test_anonymous_api_gets_json_401(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"] == "请先登录。"


def test_bearer_token_and_me(client: TestClient) -> None:
    headers = bearer(client, "cadre_a")
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["username"] == "cadre_a"
    assert me["role"] == "cadre"
    assert me["unit_name"] == "甲镇"


def test_bad_token_request_gets_chinese_400(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", json={"username": "cadre_a"})
    assert response.status_code == 400
    assert "格式不正确" in response.json()["error"]
    response = client.post("/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_cookie_post_without_csrf_header_is_refused_but_bearer_is_exempt(client: TestClient) -> None:
    login(client, "cadre_a")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    headers = bearer(client, "cadre_a")
    other = TestClient(app=client.app)
    with other:
        # A bearer client never has the CSRF cookie, and needs none.
        assert other.get("/api/v1/me", headers=headers).status_code == 200


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client, "cadre_a")
    token = csrf(client)
    response = client.post("/logout", data={"_csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/today", follow_redirects=False).status_code in (302, 303, 307)


def test_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_unknown_path_is_a_chinese_404_page_not_500(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "找不到" in response.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and "找不到" in api.json()["error"]
    assert client.delete("/healthz").status_code == 405


def test_errors_render_as_fragment_for_htmx_but_full_page_when_boosted(client: TestClient) -> None:
    login(client, "cadre_a")
    fragment = client.get("/today", params={"lat": 99, "lon": 1}, headers={"HX-Request": "true"})
    assert fragment.status_code == 400 and "<html" not in fragment.text and "超出范围" in fragment.text
    boosted = client.get("/today", params={"lat": 99, "lon": 1}, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 400 and "<html" in boosted.text and "超出范围" in boosted.text
