"""The network of the score-based denoiser: a PaiNN-like message-passing network (Schütt et
al. 2021) in plain PyTorch, chosen over an e3nn/NequIP tensor-product network for CPU speed.

Scalar and vector features only, so every operation is a dense matrix product or an index_add
over edges. Vector features are built from bond directions and combined only linearly or scaled
by invariants, which makes the output equivariant under rotations and reflections; only relative
vectors enter (translation) and sums over neighbours are order-free (permutation). Lengths are
in units of the first-shell distance.
"""

from __future__ import annotations

import math

#: cutoff in first-shell distances: keeps the first shell of fcc/hcp (12), bcc (8 + 6 at
#: 1.15 d), sc (6) and diamond (4) and drops the next one (fcc 1.41 d, diamond 1.63 d)
CUTOFF = 1.3
#: atoms updated at a time at inference
ATOM_BLOCK = 65_536


def build_network(n_species: int, features: int, layers: int, n_rbf: int):
    """The PaiNN-like network as a torch module (built lazily so that importing is light)."""
    import torch

    nn = torch.nn

    class Message(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.phi = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, 3 * features))
            self.filter = nn.Linear(n_rbf, 3 * features)

        def forward(self, s, v, i, j, vectors, geometry, edge_chunk, first: bool = False):
            phi = self.phi(s)
            ds = torch.zeros_like(s)
            dv = torch.zeros_like(v)
            for start in range(0, len(i), edge_chunk):
                sl = slice(start, start + edge_chunk)
                ii, jj = i[sl], j[sl]
                # radial functions and directions per chunk, not for every edge at once: a
                # million-atom frame's would take ~0.6 GB
                rbf, unit = geometry(vectors[sl])
                x = phi[jj] * self.filter(rbf)
                a, b, c = torch.split(x, features, dim=-1)
                ds.index_add_(0, ii, a)
                term = c[:, None, :] * unit[:, :, None]
                if not first:  # the vector features start at zero: nothing to carry in layer 1
                    term = term + b[:, None, :] * v[jj]
                dv.index_add_(0, ii, term)
            return s + ds, v + dv

        def fused(self, s, v, offsets, j, vectors, centers, first: bool = False):
            """What :meth:`forward` gives, by the compiled kernel: CPU inference on edges
            grouped by atom (``offsets``)."""
            from structid.models.denoiser_kernels import messages

            s_out, v_out = s.clone(), v.clone()
            weight, bias = self.filter.weight.detach().numpy().T.copy(), self.filter.bias.detach().numpy()
            messages(self.phi(s).numpy(), v.numpy(), offsets, j.numpy(), vectors.numpy(), weight, bias,
                     tuple(centers.tolist()), CUTOFF, first, s_out.numpy(), v_out.numpy())
            return s_out, v_out

    class Update(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.u = nn.Linear(features, features, bias=False)
            self.w = nn.Linear(features, features, bias=False)
            self.mix = nn.Sequential(nn.Linear(2 * features, features), nn.SiLU(), nn.Linear(features, 3 * features))

        def forward(self, s, v):
            if torch.is_grad_enabled() or len(s) <= ATOM_BLOCK:
                return self.block(s, v)
            # inference on a big frame: a block of atoms at a time, so that the ~3 kB per atom
            # of temporaries exist for one block only (each atom's update is its own)
            s_new, v_new = torch.empty_like(s), torch.empty_like(v)
            for start in range(0, len(s), ATOM_BLOCK):
                sl = slice(start, start + ATOM_BLOCK)
                s_new[sl], v_new[sl] = self.block(s[sl], v[sl])
            return s_new, v_new

        def block(self, s, v):
            uv, wv = self.u(v), self.w(v)
            norm = torch.sqrt((wv * wv).sum(dim=1) + 1e-8)
            a = self.mix(torch.cat([s, norm], dim=-1))
            avv, asv, ass = torch.split(a, features, dim=-1)
            return s + asv * (uv * wv).sum(dim=1) + ass, v + avv[:, None, :] * uv

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_species, features)
            self.messages = nn.ModuleList(Message() for _ in range(layers))
            self.updates = nn.ModuleList(Update() for _ in range(layers))
            self.gate = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, features))
            self.register_buffer("centers", torch.linspace(0.0, CUTOFF, n_rbf))

        def geometry(self, vectors):
            """(radial functions, unit vectors) of (m, 3) bond vectors in units of d."""
            r = torch.linalg.norm(vectors, dim=-1)
            # two atoms at one position: no direction, rather than NaN for the whole frame
            unit = vectors / r.clamp_min(1e-6)[:, None]
            envelope = torch.where(r < CUTOFF, 0.5 * (torch.cos(math.pi * r / CUTOFF) + 1.0), torch.zeros_like(r))
            width = CUTOFF / len(self.centers)
            return torch.exp(-((r[:, None] - self.centers) / width) ** 2) * envelope[:, None], unit

        def forward(self, species, i, j, vectors, edge_chunk: int = 1 << 30, offsets=None):
            """(n, 3) displacements from (m, 3) bond vectors i -> j, all in units of d.
            ``offsets`` (numpy, n + 1): the edges are grouped by atom, atom a's at
            offsets[a]:offsets[a + 1], and CPU inference then runs the compiled kernel."""
            s = self.embed(species)
            v = torch.zeros(len(species), 3, features, dtype=s.dtype)
            if torch.is_grad_enabled() or s.device.type != "cpu" or s.dtype != torch.float32:
                offsets = None
            for k, (message, update) in enumerate(zip(self.messages, self.updates)):
                if offsets is None:
                    s, v = message(s, v, i, j, vectors, self.geometry, edge_chunk, first=k == 0)
                else:
                    s, v = message.fused(s, v, offsets, j, vectors, self.centers, first=k == 0)
                s, v = update(s, v)
            return (v * self.gate(s)[:, None, :]).sum(dim=-1)

    return Network()
