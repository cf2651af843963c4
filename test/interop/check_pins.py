"""Reads pinned versions against the Requires-Dist of the packages that constrain them.

usage: check_pins.py PINS_JSON METADATA_DIR
PINS_JSON: {"tensordict": "0.9.1", ...}. The constraining packages' metadata comes from this virtualenv (installed
packages) or from METADATA_DIR/<name>.json (pip's installation report, for packages only their metadata is fetched of).
Prints one JSON object: for each pin, every requirement on it and whether the pin satisfies it.
"""

import json
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

CONSTRAINING = ["verl", "litellm", "vllm"]


def requires_dist(name: str, metadata_dir: Path) -> tuple[str, list[str]]:
    report = metadata_dir / f"{name}.json"
    if report.exists():
        meta = json.loads(report.read_text())["install"][0]["metadata"]
        return meta["version"], meta.get("requires_dist", [])
    return metadata.version(name), metadata.requires(name) or []


def main() -> None:
    pins = json.loads(sys.argv[1])
    metadata_dir = Path(sys.argv[2])
    result = {pin: [] for pin in pins}
    for owner in CONSTRAINING:
        version, requirements = requires_dist(owner, metadata_dir)
        for text in requirements:
            req = Requirement(text)
            # Requirements of the package itself, not of an optional extra.
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            name = req.name.lower()
            if name in pins:
                result[name].append(
                    {
                        "by": f"{owner}=={version}",
                        "requirement": str(req.specifier) or "any",
                        "satisfied": req.specifier.contains(pins[name], prereleases=True),
                    }
                )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
