"""The Python SDK against a group of three `tributary serve` on loopback (serve --peers): the
job's home places the clients evenly over the nodes and keeps them there, each client follows
its placement, every node publishes the exact weighted average, and a client whose node stops
is placed again through the node it knows."""

import collections
import contextlib
import socket

import numpy as np

import tributary
from serving import create_job, serve


def free_addresses(n: int):
    """`n` loopback addresses with ports free now."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return addresses


def test_group_places_clients_evenly_and_every_node_publishes_the_average():
    addresses = free_addresses(3)
    with contextlib.ExitStack() as nodes:
        stops = []
        for a in addresses:
            peers = ",".join(x for x in addresses if x != a)
            stack = contextlib.ExitStack()
            stack.enter_context(serve("--peers", peers, "--aggregators", "1", listen=a))
            stops.append(stack)
            nodes.push(stack.__exit__)
        params, clients_per_round = 1000, 6
        job = create_job(addresses[0], params, clients_per_round=clients_per_round, rounds=2)
        clients = [tributary.Client(addresses[0], f"g{i}", max_attempts=2)
                   for i in range(clients_per_round)]
        placed = [c.join(job).node for c in clients]
        assert sorted(collections.Counter(placed).values()) == [2, 2, 2]
        assert set(placed) == set(addresses)
        assert [c.node(job) for c in clients] == placed
        assert clients[0].join(job).node == placed[0]  # kept where it was placed

        def run_round(rnd: int, pushers):
            for i in pushers:
                clients[i].push(np.full(params, i, np.float32), num_examples=i + 1, round=rnd)
            expected = sum(i * (i + 1) for i in pushers) / sum(i + 1 for i in pushers)
            for i in pushers:  # pulled on every node the pushers are placed on
                model = clients[i].pull(rnd)
                assert np.allclose(model, expected, rtol=1e-6), (rnd, clients[i].node(job))

        run_round(1, range(clients_per_round))
        # A node other than the one the clients know stops: its clients are placed again.
        gone = next(a for a in addresses[1:] if a in placed)
        stops[addresses.index(gone)].close()
        movers = [i for i, p in enumerate(placed) if p == gone]
        for i in movers:
            clients[i].push(np.full(params, i, np.float32), num_examples=i + 1, round=2)
            assert clients[i].node(job) != gone
        for c in clients:
            c.close()
