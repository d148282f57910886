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


def test_unknown_crystals_score_flagged_and_wrong_labels():
    import numpy as np

    from structid.bench import unknown
    from structid.labels import CODE

    codes = np.array([CODE[c] for c in ("unknown", "other", "fcc", "liquid")])
    row = unknown.score("unseen", "a15", "unknown", "m", codes)
    assert (row.right, row.flagged, row.wrong) == (0, 2, 2)
    row = unknown.score("known", "al", "fcc", "m", codes)
    assert (row.right, row.flagged, row.wrong) == (1, 2, 1)
    # a liquid is right when not crystalline and not flagged; ice's hd is right where a method has it
    assert unknown.score("known", "al", "liquid", "m", codes).right == 1
    assert unknown.score("unseen", "ice", "hd", "m", np.array([CODE["hd"], CODE["cd"]])).right == 1


def test_unknown_bench_runs_every_unseen_lattice():
    import numpy as np

    from structid.bench import unknown
    from structid.labels import CODE, Labels

    class Liquid:
        def classify(self, frame, neighbors=None):
            return Labels(codes=np.full(len(frame), CODE["liquid"]), classes=("liquid",))

    rows = unknown.evaluate({"liquid": Liquid()}, seed=0)
    assert {r.sample.split()[0] for r in rows} == {"a15", "beta-sn", "alpha-u", "cristobalite", "quartz", "graphite"}
    assert all(r.wrong == r.atoms for r in rows)
    assert "| liquid | 0.0 | 100.0 |" in unknown.markdown(rows)


def test_unknown_bench_uses_only_the_md_data_that_exists(tmp_path):
    from structid.bench import unknown

    # an empty data folder: the lattices only, no error for the missing runs
    names = [name for name, _, _ in unknown.unseen_samples(0, tmp_path)]
    assert len(names) == 12 and not list(unknown.known_samples(tmp_path))
