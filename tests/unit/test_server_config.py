"""uvicorn as TaskBell configures it: compression and access logs only when asked for."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from taskbell.app import create_app
from taskbell.config import Settings
from taskbell.web.server import server_config, tune_gc


@pytest.mark.parametrize("wanted", [False, True])
def test_permessage_deflate_follows_the_setting(tmp_path: Path, wanted: bool) -> None:
    """Off by default (TASKBELL_WS_PER_MESSAGE_DEFLATE=false); on when set."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", ws_per_message_deflate=wanted
    )
    assert Settings().ws_per_message_deflate is False
    assert server_config(create_app(settings), "127.0.0.1", 0).ws_per_message_deflate is wanted


@pytest.mark.parametrize("wanted", [False, True])
def test_access_log_follows_the_setting(tmp_path: Path, wanted: bool) -> None:
    """Off by default (TASKBELL_ACCESS_LOG=false); uvicorn logs each request when set."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", access_log=wanted)
    assert Settings().access_log is False
    assert server_config(create_app(settings), "127.0.0.1", 0).access_log is wanted


@pytest.mark.parametrize("young", [0, 10_000])
def test_serve_sets_the_young_gc_threshold_and_freezes_the_startup_heap(young: int) -> None:
    """TASKBELL_GC_YOUNG_THRESHOLD sets the young generation; 0 keeps what Python had."""
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc(Settings(gc_young_threshold=young))
        assert gc.get_threshold() == (young or 700, 10, 10)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
    assert Settings().gc_young_threshold == 10_000
