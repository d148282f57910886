from structid.bench import speed


def test_best_times_interleaves_rounds_and_keeps_the_shortest(monkeypatch):
    clock, order = [0.0], []
    # seconds each call takes, in call order; with several calls each runs twice per round
    took = {"a": [9.0, 3.0, 9.0, 1.0], "b": [9.0, 1.0, 9.0, 2.0]}

    def call(name):
        order.append(name)
        clock[0] += took[name].pop(0)

    monkeypatch.setattr(speed.time, "perf_counter", lambda: clock[0])
    best = speed.best_times({"a": lambda: call("a"), "b": lambda: call("b")}, repeats=2)
    assert order == ["a", "a", "b", "b", "a", "a", "b", "b"]
    assert best == {"a": 1.0, "b": 1.0}
    took["a"] = [4.0, 5.0]
    assert speed.best_time(lambda: call("a"), repeats=2) == 4.0
