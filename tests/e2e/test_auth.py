"""Signing in with email + password, and signing out by revoking the token."""

from __future__ import annotations

from .support import ME, ApiFactory, MakeUser

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { id email name } }
}"""
LOGOUT = "mutation { logout }"


async def test_login_with_the_cli_password_returns_a_working_token(
    make_user: MakeUser, api: ApiFactory
) -> None:
    """The password given to `taskbell user create` buys a token that identifies the user."""
    carol = await make_user("Carol")
    result = await api(None).execute(LOGIN, email=carol.email, password=carol.password)
    login = result.ok()["login"]
    assert login["user"] == {"id": carol.id, "email": carol.email, "name": "Carol"}
    me = (await api(login["token"]).execute(ME)).ok()
    assert me == {"me": login["user"]}


async def test_login_with_a_wrong_password_is_unauthenticated(
    make_user: MakeUser, api: ApiFactory
) -> None:
    """A wrong password is refused with UNAUTHENTICATED."""
    carol = await make_user("Carol")
    result = await api(None).execute(LOGIN, email=carol.email, password=carol.password + "x")
    assert result.codes == ["UNAUTHENTICATED"]


async def test_logout_revokes_the_token(make_user: MakeUser, api: ApiFactory) -> None:
    """After logout, the next request with the same token is UNAUTHENTICATED."""
    carol = await make_user("Carol")
    logged_out = (await api(carol.token).execute(LOGOUT)).ok()
    after = await api(carol.token).execute(ME)
    assert logged_out == {"logout": True}
    assert after.codes == ["UNAUTHENTICATED"]
