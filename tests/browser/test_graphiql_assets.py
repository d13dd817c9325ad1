"""GraphiQL's local assets: the page uses them only when all are installed (no browser needed)."""

from __future__ import annotations

from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

from taskbell.web import graphiql
from tests.support.processes import REPO_ROOT

FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch-graphiql-assets.sh"


def script_assets() -> set[str]:
    """The `<package>@<version>/<file>` lines of the fetch script's ASSETS list."""
    text = FETCH_SCRIPT.read_text()
    listed = text.split("ASSETS='", 1)[1].split("'", 1)[0]
    return {"/".join(line.split()) for line in listed.splitlines() if line.strip()}


def install(vendor: Path, assets: list[str]) -> None:
    for asset in assets:
        (vendor / asset).parent.mkdir(parents=True, exist_ok=True)
        (vendor / asset).write_text("/* stand-in */")


def test_the_fetch_script_installs_exactly_what_strawberrys_page_loads() -> None:
    """The script's list matches the CDN files of the installed Strawberry's GraphiQL page."""
    assert script_assets() == set(graphiql.cdn_assets(get_graphql_ide_html()))


def test_the_page_keeps_the_cdn_while_any_asset_is_missing(tmp_path: Path) -> None:
    """With one file short, GraphiQL is Strawberry's CDN page, unchanged."""
    page = get_graphql_ide_html()
    install(tmp_path, graphiql.cdn_assets(page)[1:])
    assert graphiql.page_html(page, tmp_path) == page


def test_the_page_loads_every_asset_locally_once_all_are_installed(tmp_path: Path) -> None:
    """With every file present, no CDN address remains and the integrity hashes stay."""
    page = get_graphql_ide_html()
    assets = graphiql.cdn_assets(page)
    install(tmp_path, assets)
    local = graphiql.page_html(page, tmp_path)
    assert graphiql.CDN_PREFIX not in local
    assert all(f'"{graphiql.LOCAL_PREFIX}{asset}"' in local for asset in assets)
    assert local.count("integrity=") == page.count("integrity=") == len(assets)
