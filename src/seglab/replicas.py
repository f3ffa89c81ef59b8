"""Sums over the replicas of a distribution strategy (the identity on one device).

Losses and metrics are defined by sums over the *global* batch. Inside
``MirroredStrategy`` or ``MultiWorkerMirroredStrategy`` each replica sees
only its part, so :func:`global_sum` adds the parts with one all-reduce;
every replica calls it at the same place whatever its data, so all of them
issue the same collectives in the same order.
"""

from __future__ import annotations

import tensorflow as tf


def replica_context() -> tf.distribute.ReplicaContext | None:
    """The replica context when several replicas share the batch, else None."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def replicas_in_sync() -> int:
    """How many replicas share the batch here (1 outside a replica context)."""
    context = replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def global_sum(values: tf.Tensor) -> tf.Tensor:
    """``values`` summed over the replicas, same shape and dtype; no gradient.

    On one device, and in a strategy's cross-replica context, it is
    ``values`` itself.
    """
    values = tf.stop_gradient(tf.convert_to_tensor(values))
    context = replica_context()
    if context is None:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, values)
