"""The leak scanner on files: what it reports, how, and what it leaves alone."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import uuid
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from pgfraud.kernel.card_numbers import find_card_numbers
from pgfraud.monitoring import leaks
from pgfraud.monitoring.leaks import Finding, scan_paths

PAN = "4111111111111111"
PGFRAUD = str(Path(sys.executable).parent / "pgfraud")


def clean_texts(rng: random.Random) -> dict[str, str]:
    """Files full of numbers that are not card numbers."""
    floats = " ".join(repr(rng.uniform(-1e6, 1e6)) for _ in range(2000))
    fractions = "\t".join(repr(rng.random()) for _ in range(2000))
    digests = "\n".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000))
    ids = ",".join(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2000))
    return {"floats.txt": floats, "fractions.tsv": fractions, "digests.txt": digests,
            "ids.csv": ids}


def lightgbm_model_text() -> str:
    """A real model's text (lightgbm writes integer lists such as leaf_count=…)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20_000, 4))
    y = (x[:, 0] + rng.normal(size=20_000) > 1).astype(int)
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(x, y),
                             num_boost_round=20)
    return str(booster.model_to_string())


def test_a_seeded_number_in_a_nested_file_is_found_and_reported_masked(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "logs"
    nested.mkdir(parents=True)
    (nested / "app.log").write_text(f"started\nrefund ok\ncard={PAN[:4]} {PAN[4:8]} "
                                    f"{PAN[8:12]} {PAN[12:]}; ref{PAN}\n")
    (tmp_path / "a" / "notes.md").write_text("nothing here, 4111111111111112 is not valid\n")
    (tmp_path / "dump.bin").write_bytes(b"\x00\xff\xfe" + PAN.encode() + b"\x89PNG\n")

    found = scan_paths([tmp_path])

    log, binary = str(nested / "app.log"), str(tmp_path / "dump.bin")
    assert found == [Finding(binary, "line 1", "************1111"),  # top-down, by name
                     Finding(log, "line 3", "************1111"),
                     Finding(log, "line 3", "************1111")]
    assert all(PAN not in str(finding) for finding in found)
    assert scan_paths([nested / "app.log"]) == found[1:]


def test_floats_digests_uuids_and_model_text_are_not_card_numbers(tmp_path: Path) -> None:
    for name, text in clean_texts(random.Random(5)).items():
        (tmp_path / name).write_text(text)
    model = lightgbm_model_text()
    assert find_card_numbers(model), "its integer lists read as card numbers"
    (tmp_path / "model.txt").write_text(model)
    assert scan_paths([tmp_path]) == []


def test_model_text_is_recognised_by_its_header_and_only_its_integer_lines_skipped(
    tmp_path: Path,
) -> None:
    counts = "internal_count=4111 1111 1111 1111\nleaf_count=12 5500 0055 5555 5559 12345\n"
    (tmp_path / "model.txt").write_text(f"tree\nversion=v4\n{counts}note=ref{PAN}\n")
    (tmp_path / "other.txt").write_text(counts)
    assert scan_paths([tmp_path / "model.txt"]) == [
        Finding(str(tmp_path / "model.txt"), "line 5", "************1111")]
    assert len(scan_paths([tmp_path / "other.txt"])) == 2


def test_line_numbers_hold_across_pieces_of_a_large_file(tmp_path: Path,
                                                         monkeypatch) -> None:
    monkeypatch.setattr(leaks, "_CHUNK_BYTES", 64)
    lines = ["x" * 50, "1234567890 " * 20, f"a{PAN}b", "0123456789abcdef" * 30, PAN]
    (tmp_path / "big.txt").write_text("\n".join(lines))
    (tmp_path / "one-line.bin").write_bytes(("0123456789abcdef" * 30 + f",{PAN},").encode()
                                            + b"\xe2\x82\xac" * 50)
    assert [f.row for f in scan_paths([tmp_path / "big.txt"])] == ["line 3", "line 5"]
    assert [f.row for f in scan_paths([tmp_path / "one-line.bin"])] == ["line 1"]


def test_oversized_files_are_skipped_with_a_warning(tmp_path: Path, monkeypatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(leaks, "MAX_FILE_BYTES", 10)
    (tmp_path / "big.log").write_text(PAN)
    assert scan_paths([tmp_path]) == []
    assert "skipped" in caplog.text and "big.log" in caplog.text


def test_the_cli_exits_1_with_masked_findings_and_0_when_clean(tmp_path: Path) -> None:
    (tmp_path / "seeded.log").write_text(f"paid with {PAN}\n")
    (tmp_path / "clean.log").write_text("paid with ************1111\n")
    seeded = subprocess.run([PGFRAUD, "leaks", "--no-database", str(tmp_path / "seeded.log")],
                            capture_output=True, text=True, timeout=60)
    assert seeded.returncode == 1, seeded.stderr
    assert seeded.stdout.splitlines() == [
        f"{tmp_path / 'seeded.log'} line 1: ************1111", "1 card number found"]
    assert PAN not in seeded.stdout + seeded.stderr
    clean = subprocess.run([PGFRAUD, "leaks", "--no-database", str(tmp_path / "clean.log")],
                           capture_output=True, text=True, timeout=60)
    assert (clean.returncode, clean.stdout) == (0, "0 card numbers found\n")
