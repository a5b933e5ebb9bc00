"""Tributary's Python SDK: join a federated job, pull global models, push updates.

    import numpy as np
    import tributary

    client = tributary.Client("127.0.0.1:7070", client_id="hospital-7")
    joined = client.join(job_id)
    model = client.pull()                      # the latest global model, a float32 array
    client.push(model + delta, num_examples=5400, round=joined.job.open_round)
"""

from tributary.client import Client, TributaryError

__all__ = ["Client", "TributaryError"]
