"""gt cost on a recorded multi-role run, checked against numbers worked out by hand."""

import csv
import io

import pytest
from watchers import set_config

ROSTER = """
[machine]
gpu_watts = 320
cpu_watts = 100

[cost]
price_per_kwh = 0.20
compare_to = "cloudpro"

[models.cloudpro]
kind = "cloud"
endpoint = "http://127.0.0.1:9/v1"
price_in_per_mtok = 2.0
price_out_per_mtok = 12.0

[models.cloudflash]
kind = "cloud"
endpoint = "http://127.0.0.1:9/v1"
price_in_per_mtok = 0.5
price_out_per_mtok = 3.0

[models.local3b]
device = "gpu"
power_watts = 300

[models.localcpu]
device = "cpu"
"""


def run(town, role, model, tokens_in, tokens_out, seconds, energy=None, convoy=None):
    bead_id = town.add(f"{role} work", role=role, convoy=convoy)
    q = town.queue()
    q.claim(role, f"{role}@test", lease=60, bead_id=bead_id)
    usage = {"tokens_in": tokens_in, "tokens_out": tokens_out, "model_s": seconds}
    if energy is not None:
        usage["energy_j"] = energy
    q.complete(
        bead_id,
        f"{role}@test",
        result={
            "summary": "ok",
            "model": model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "model_s": seconds,
            "by_model": {model: usage},
        },
    )
    return bead_id


@pytest.fixture
def recorded(town):
    from gastown.town import convoy

    set_config(town.path, ROSTER)
    features = convoy.create(town.store(), "features")
    run(town, "mayor", "cloudpro", 10000, 2000, 20)
    run(town, "polecat", "local3b", 50000, 5000, 100, energy=36000, convoy=features.id)  # 0.01 kWh measured
    run(town, "polecat", "local3b", 20000, 3000, 60, convoy=features.id)  # 300 W × 60 s = 0.005 kWh
    run(town, "librarian", "localcpu", 8000, 1000, 36)  # cpu_watts 100 × 36 s = 0.001 kWh
    run(town, "crew", "cloudflash", 4000, 500, 5)
    return town, features.id


def test_the_hybrid_against_cloud_table(recorded):
    town, _ = recorded
    report = town.gt("cost", "--json").json()
    lines = {(row["role"], row["model"]): row for row in report["lines"]}
    assert lines[("mayor", "cloudpro")]["cloud_dollars"] == pytest.approx(0.044)
    polecat = lines[("polecat", "local3b")]
    assert polecat["beads"] == 2 and polecat["tokens_in"] == 70000 and polecat["cloud_dollars"] == 0
    assert polecat["kwh"] == pytest.approx(0.015) and polecat["energy_dollars"] == pytest.approx(0.003)
    assert polecat["as_cloud_dollars"] == pytest.approx(0.16 + 0.076) and polecat["estimated_energy"]
    assert lines[("librarian", "localcpu")]["kwh"] == pytest.approx(0.001)
    assert lines[("crew", "cloudflash")]["cloud_dollars"] == pytest.approx(0.0035)
    assert report["hybrid_dollars"] == pytest.approx(0.0507)
    assert report["pure_cloud_dollars"] == pytest.approx(0.322)
    assert report["saved_dollars"] == pytest.approx(0.2713)
    assert report["total"]["kwh"] == pytest.approx(0.016)
    text = town.gt("cost").out
    assert "hybrid $0.0507 vs pure cloud (cloudpro) $0.3220: hybrid saved $0.2713" in text
    assert "estimated from configured watts" in text


def test_by_convoy_compare_and_csv(recorded):
    town, convoy_id = recorded
    report = town.gt("cost", "--convoy", convoy_id, "--json").json()
    assert [(row["role"], row["model"]) for row in report["lines"]] == [("polecat", "local3b")]
    flash = town.gt("cost", "--compare", "cloudflash", "--json").json()
    assert flash["pure_cloud_dollars"] == pytest.approx((92000 * 0.5 + 11500 * 3.0) / 1e6)
    rows = list(csv.DictReader(io.StringIO(town.gt("cost", "--csv").out)))
    assert rows[-1]["role"] == "all" and float(rows[-1]["dollars"]) == pytest.approx(0.0507)
    assert town.gt("cost", "--since", "1d", "--json").json()["total"]["beads"] == 5
    assert town.gt("cost", "--since", "2099-01-01", "--json").json()["total"]["beads"] == 0
    bad = town.gt("cost", "--since", "someday")
    assert bad.code == 2 and "an age like 7d" in bad.err
