"""Build hook: GraphiQL's browser assets are fetched from the npm registry at build time.

Every build runs ``scripts/fetch-graphiql-assets.sh`` (pinned versions, integrity checked
by ``npm pack``) before collecting package data, so wheels and editable installs alike
carry ``taskbell/web/static/vendor/``. Without npm, or the registry, the build goes on and
says so: GraphiQL then loads those files from a public CDN.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FETCH_SCRIPT = Path(__file__).resolve().parent / "scripts" / "fetch-graphiql-assets.sh"


def fetch_graphiql_assets() -> None:
    """Install the assets into the source tree; a failure only costs the offline GraphiQL."""
    try:
        subprocess.run(["sh", str(FETCH_SCRIPT)], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(
            f"could not fetch GraphiQL's assets ({error}): "
            "GraphiQL at /graphql will load them from a public CDN",
            file=sys.stderr,
        )


class BuildPyWithGraphiQL(build_py):
    """``build_py`` (also run by editable installs) that fetches the assets first."""

    def run(self) -> None:
        fetch_graphiql_assets()
        # build_py lists package data lazily and caches it; list it again with the assets.
        self.__dict__.pop("data_files", None)
        super().run()


setup(cmdclass={"build_py": BuildPyWithGraphiQL})
