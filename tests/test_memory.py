import torch

from stella.continual.memory import ReservoirMemory


def _batch(start, n):
    return {"x": torch.arange(start, start + n).float()[:, None], "id": torch.arange(start, start + n)}


def test_reservoir_fills_then_samples_uniformly():
    counts = torch.zeros(200)
    for rep in range(300):
        mem, g = ReservoirMemory(20), torch.Generator().manual_seed(rep)
        for s in range(0, 200, 10):
            mem.add(_batch(s, 10), g)
        assert len(mem) == 20 and mem.seen == 200
        counts[mem.data["id"]] += 1
    # each of 200 stream items should be kept with probability 20/200 = 0.1 -> 30 of 300 reps
    assert counts.sum() == 300 * 20
    assert (counts - 30).abs().max() < 20, counts


def test_reservoir_is_deterministic_and_resumable():
    def run(split):
        g, mem = torch.Generator().manual_seed(0), ReservoirMemory(8)
        for s in range(0, 40, 4):
            if s == split:
                state, gs = mem.state_dict(), g.get_state()
                mem, g = ReservoirMemory(8), torch.Generator()
                mem.load_state_dict(state)
                g.set_state(gs)
            mem.add(_batch(s, 4), g)
        return mem.data["id"].clone()

    assert torch.equal(run(-1), run(20))
    assert torch.equal(run(-1), run(8))


def test_sample_and_bytes():
    mem, g = ReservoirMemory(5), torch.Generator().manual_seed(1)
    assert mem.sample(3, g) is None
    mem.add(_batch(0, 3), g)
    s = mem.sample(10, g)
    assert s["x"].shape == (3, 1) and sorted(s["id"].tolist()) == [0, 1, 2]
    assert mem.nbytes() == 5 * 4 + 5 * 8
    assert ReservoirMemory(0).add(_batch(0, 2), g).tolist() == [-1, -1]
