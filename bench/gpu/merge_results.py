"""Merge the raw ``--json-out`` reports of one ``bench/gpu/run.sh`` run into one JSON file.

    python bench/gpu/merge_results.py OUT.json --command "..." --part train=a.json --part eval=b.json

A part whose file is missing (its stage failed or ran out of time) is recorded with an error, so the
file always says what ran. The header names the device, torch, the script's command and the commit.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import subprocess
from pathlib import Path


def _commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def header(command: str) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "device_name": torch.cuda.get_device_name(0)
        if cuda
        else f"CPU ({platform.processor() or 'unknown'})",
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "python": platform.python_version(),
        "commit": _commit(Path(__file__).resolve().parents[2]),
    }


def merge(out: Path, command: str, parts: list[tuple[str, Path, str]]) -> dict:
    """``parts``: (name, report file, the stage's command)."""
    report = header(command)
    report["parts"] = {}
    for name, path, cmd in parts:
        if path.is_file():
            body = json.loads(path.read_text(encoding="utf-8"))
        else:
            body = {"error": f"no report ({path.name} missing: the stage failed or ran out of time)"}
        body.setdefault("command", cmd)
        report["parts"][name] = body
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--command", required=True, help="the run.sh command line")
    p.add_argument(
        "--part", action="append", default=[], help="NAME=FILE[=STAGE COMMAND]; repeat for every stage"
    )
    args = p.parse_args(argv)
    parts = []
    for item in args.part:
        name, _, rest = item.partition("=")
        path, _, cmd = rest.partition("=")
        parts.append((name, Path(path), cmd))
    report = merge(Path(args.out), args.command, parts)
    ok = [n for n, b in report["parts"].items() if "error" not in b]
    print(
        f"wrote {args.out}: {report['device_name']}, torch {report['torch']}; parts ok: {', '.join(ok) or 'none'}"
    )
    return 0 if len(ok) == len(parts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
