"""The repository stands alone: a clone of HEAD in an empty folder refers to nothing outside it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# NOTE: built from parts so this file does not match its own patterns.
SIBLING = "shared"
FORBIDDEN = ["../" + SIBLING, "/work/" + SIBLING, f'parent / "{SIBLING}"',
             f'"{SIBLING}" / "bench"', f'"{SIBLING}" / "spec"', f'"{SIBLING}" / "stac-schemas"',
             f"{SIBLING}/bench/", f"{SIBLING}/spec/", f"{SIBLING}/stac-schemas"]
VENDORED = ["tests/schemas/v1.0.0/item-spec/json-schema/item.json",
            "tests/schemas/geojson/Feature.json", "tests/schemas/sitecustomize.py",
            "tests/schemas/README.md", "tests/spec/managing-data-worked-example.md",
            "benchmarks/tools/gen_items.py", "benchmarks/tools/search_load.py",
            "benchmarks/tools/get_load.py"]


def _clone_head(tmp_path: Path) -> Path:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    dest = tmp_path / "empty" / "geopera-stac"
    dest.parent.mkdir()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    return dest


def test_no_tracked_file_refers_to_the_shared_folder_and_vendored_files_are_tracked(tmp_path):
    # NOTE: the equivalent check the issue allows: CI itself runs `make test` on a fresh clone,
    # and this pins that no tracked file reaches outside it (a full second suite run from the
    # clone would double CI time on the 2-core machine).
    clone = _clone_head(tmp_path)
    assert not (clone.parent / SIBLING).exists()
    args = ["git", "-C", str(clone), "grep", "-n", "-F"]
    for pattern in FORBIDDEN:
        args += ["-e", pattern]
    found = subprocess.run(args, capture_output=True, text=True)
    assert found.returncode == 1, "files refer outside the repository:\n" + found.stdout
    missing = [p for p in VENDORED if not (clone / p).is_file()]
    assert not missing, f"vendored files not tracked: {missing}"


def test_guide_excerpt_test_passes_from_a_clone_without_the_shared_folder(tmp_path):
    clone = _clone_head(tmp_path)
    test = "tests/ops/test_guide_organize.py::test_sample_is_the_guides_text"
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", test],
                       cwd=clone, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "1 passed" in r.stdout
