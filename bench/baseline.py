"""``--baseline REF``: another commit of TaskBell, built once in its own worktree and venv.

The tree is ``git worktree add --detach`` of REF under ``bench/results/raw/``
(ignored by git), named by the commit, with its own ``.venv`` (``pip install
-e``); later runs against the same commit reuse it. It runs as one more peer,
``taskbell_baseline``, so a change is compared with the commit before it in the
same run on the same machine. Remove one with ``git worktree remove --force PATH``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import targets

log = logging.getLogger("bench")
READY = ".bench-baseline-ready"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(targets.REPO), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def prepare(ref: str, root: Path) -> tuple[targets.Build, str]:
    """The baseline's build (its tree and interpreter) and its full commit id."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    tree = root / f"baseline-{commit[:12]}"
    python = tree / ".venv" / "bin" / "python"
    if not (tree / READY).is_file():
        if tree.exists():
            _git("worktree", "remove", "--force", str(tree))
        root.mkdir(parents=True, exist_ok=True)
        log.info("baseline %s: worktree at %s", ref, tree)
        _git("worktree", "add", "--detach", str(tree), commit)
        log.info("baseline %s: installing into its own venv (once per commit)", ref)
        subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-e", str(tree)],
            check=True,
            cwd=tree,
        )
        (tree / READY).write_text(commit + "\n")
    return targets.Build(python=str(python), repo=tree, name=f"{ref} ({commit[:7]})"), commit
