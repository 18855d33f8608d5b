"""emutrain.study.claims: exclusive claims, heartbeats, takeover of stale claims by exactly one taker, and
the checks of the workers' settings."""

import json
import math
import os
import threading
import time

import ml_collections
import pytest

from emutrain import study
from emutrain.config_files import load_config
from emutrain.study import claims


def _owner(path):
    with open(path) as file:
        return json.load(file)


def _age(path, seconds):
    """Backdates the claim's heartbeat by `seconds`."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_live_claim_is_exclusive_and_released(tmp_path):
    path = str(tmp_path / "claims" / "run")
    first = claims.try_claim(path, 60)
    assert first is not None and _owner(path) == first.owner and first.owner["pid"] == os.getpid()
    assert claims.try_claim(path, 60) is None  # held and fresh
    first.release()
    assert not os.path.exists(path)
    with claims.try_claim(path, 60) as second:
        assert second.owner["token"] != first.owner["token"]
    assert not os.path.exists(path)


def test_the_heartbeat_keeps_a_claim_fresh(tmp_path):
    path = str(tmp_path / "run")
    with claims.try_claim(path, 0.4) as claim:  # a heartbeat every 0.1 s
        assert claim.interval_s == pytest.approx(0.1)
        _age(path, 10)
        assert claims.is_stale(path, 0.4)
        time.sleep(0.35)
        assert not claims.is_stale(path, 0.4) and claims.try_claim(path, 0.4) is None
        assert not claim.lost
    assert claims.heartbeat_interval(300) == 10.0 and claims.heartbeat_interval(8) == 2.0


def test_a_stale_claim_is_taken_over_and_its_owner_notices(tmp_path):
    path = str(tmp_path / "run")
    old = claims.try_claim(path, 60)
    old._stop.set()  # its owner is gone: no more heartbeats
    old._thread.join()
    _age(path, 120)
    new = claims.try_claim(path, 60)
    assert new is not None and _owner(path)["token"] == new.owner["token"]
    old.release()  # a late release of the old owner leaves the new claim alone
    assert _owner(path)["token"] == new.owner["token"]
    new.release()


def test_a_heartbeat_that_finds_another_token_marks_the_claim_lost(tmp_path):
    path = str(tmp_path / "run")
    claim = claims.try_claim(path, 0.4)
    with open(path, "w") as file:
        json.dump({"token": "someone else"}, file)
    time.sleep(0.3)
    assert claim.lost
    claim.release()
    assert _owner(path) == {"token": "someone else"}


def test_two_takers_of_one_stale_claim_exactly_one_wins(tmp_path):
    for attempt in range(20):
        path = str(tmp_path / f"run{attempt}")
        with open(path, "w") as file:
            json.dump({"host": "gone", "pid": 1, "token": "dead"}, file)
        _age(path, 600)
        barrier, won = threading.Barrier(2), []

        def take():
            barrier.wait()
            won.append(claims.try_claim(path, 60))

        threads = [threading.Thread(target=take) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [claim for claim in won if claim is not None]
        assert len(winners) == 1
        assert _owner(path)["token"] == winners[0].owner["token"]
        winners[0].release()
        assert not [name for name in os.listdir(tmp_path) if ".stale-" in name]  # the stale file removed


def test_a_late_taker_puts_back_the_claim_it_moved(tmp_path):
    """Taker B read the stale claim, taker A took it over meanwhile: B's rename moves A's fresh claim,
    which B puts back; B then gets no claim."""
    path = str(tmp_path / "run")
    with open(path, "w") as file:
        file.write('{"token": "dead"}')
    _age(path, 600)
    stale_text = open(path).read()
    winner = claims.try_claim(path, 60)
    claims._take_over(path, stale_text, 60)  # B, late, with what it read before A's takeover
    assert _owner(path)["token"] == winner.owner["token"]
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert claims.try_claim(path, 60) is None
    winner.release()


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, "300", True, None])
def test_bad_claim_timeouts_are_refused_naming_the_field(value, tmp_path):
    with pytest.raises(ValueError, match=r"config\.claim_timeout_s must be a finite number of seconds > 0, "
                                         rf"got {value!r}"):
        claims.check_timeout(value)
    config = ml_collections.ConfigDict({**load_config("studies/apebench_1d", "quick").to_dict(),
                                        "claim_timeout_s": value})
    with pytest.raises(ValueError, match=r"config\.claim_timeout_s must be"):
        study.run_study(config, str(tmp_path / "study"), progress_bar=False)
    assert not os.path.exists(tmp_path / "study")  # refused before the workdir is touched
    with pytest.raises(ValueError, match="timeout_s must be"):
        claims.try_claim(str(tmp_path / "run"), value)


@pytest.mark.parametrize("value", [0, -2, 1.5, "3", True, None])
def test_bad_worker_counts_are_refused_naming_the_parameter(value, tmp_path):
    with pytest.raises(ValueError, match=rf"workers must be an int >= 1, got {value!r}"):
        study.submit_workers(load_config("studies/apebench_1d", "quick"), str(tmp_path), value)
    assert os.listdir(tmp_path) == []
