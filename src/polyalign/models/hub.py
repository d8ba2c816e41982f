"""Is a name that is no local folder a Hugging Face hub model we can use from here?

Without this check a mistyped run folder (``runs/goood``) goes to the hub loaders, which retry for
a minute before reporting a network failure. A name passes when it has the shape of a hub id and
is in the local Hugging Face cache, or when one quick probe of the hub finds it; with
``HF_HUB_OFFLINE`` set there is no probe.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ConfigError

__all__ = ["check_hub_name", "in_hf_cache"]

PROBE_TIMEOUT_S = 5.0
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TRUE = ("1", "true", "yes", "on")


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def in_hf_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache (or sentence-transformers' own folder) holds a snapshot of it."""
    from huggingface_hub import constants

    roots = [Path(constants.HF_HUB_CACHE)]
    if os.environ.get("SENTENCE_TRANSFORMERS_HOME"):
        roots.append(Path(os.environ["SENTENCE_TRANSFORMERS_HOME"]).expanduser())
    # sentence-transformers looks a bare name up under its own organisation too.
    names = [repo_id] + ([f"sentence-transformers/{repo_id}"] if "/" not in repo_id else [])
    for root in roots:
        for name in names:
            snapshots = root / ("models--" + name.replace("/", "--")) / "snapshots"
            if snapshots.is_dir() and any(snapshots.iterdir()):
                return True
    return False


def check_hub_name(name: str, what: str = "model") -> None:
    """Raise a one-line :class:`ConfigError` unless ``name`` can be loaded from the hub here."""

    def fail(why: str) -> ConfigError:
        return ConfigError(f"{what} {name!r}: no such folder, and not a hub id here ({why})")

    if not _HUB_ID.fullmatch(name):
        raise fail("a hub id is NAME or ORG/NAME")
    if in_hf_cache(name):
        return
    if _offline():
        raise fail("not in the Hugging Face cache, and HF_HUB_OFFLINE is set")
    from huggingface_hub import model_info
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        model_info(name, timeout=PROBE_TIMEOUT_S)
    except RepositoryNotFoundError:
        raise fail("the hub has no such model") from None
    except HfHubHTTPError:
        return  # gated or rate-limited: the hub knows the name; the loader reports the rest
    except Exception as e:  # noqa: BLE001 - any network failure: DNS, refused, timeout, proxy
        raise fail(f"not in the Hugging Face cache, and the hub is unreachable: {type(e).__name__}") from None
