"""Dataset generation shows its progress on a terminal and writes nothing elsewhere."""

import io

import numpy as np

from emutrain import scenarios


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_generation_shows_the_samples_simulated_on_a_terminal_only(monkeypatch):
    scenario = scenarios.make("diff_adv", num_points=32, num_train_samples=10, train_temporal_horizon=3)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    shown = scenario.trajectories("train", chunk_size=4, progress=True)
    bars = terminal.getvalue().replace("\r", "\n")
    assert "generating diff_adv train: 100%" in bars and "10/10" in bars
    log = io.StringIO()  # not a terminal: no bar
    monkeypatch.setattr("sys.stderr", log)
    np.testing.assert_array_equal(scenario.trajectories("train", chunk_size=4, progress=True), shown)
    assert log.getvalue() == ""
    np.testing.assert_array_equal(scenario.trajectories("train", chunk_size=4), shown)
