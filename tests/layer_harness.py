"""What every attention layer of the registry must satisfy, shared by the layer tests."""

import keras
import numpy as np

from attention_zoo import layers

# What the tests need to know about a variant is on its class (STYLE.md rule 12):
# `test_kwargs` (small constructor arguments), `requires_same_dim`, `splits_heads`.
# So a new registry entry is tested without touching the tests.


def splits_heads(name):
    """Whether the layer projects and splits heads itself (then it has an output projection)."""
    return layers.get_class(name).splits_heads


# Multi-head layers with every single-head score inside.
MULTI_HEAD_SCORES = [name for name in layers.available() if not splits_heads(name)]

# Scores that need query and key of the same feature size.
SAME_DIM = [name for name in layers.available() if layers.get_class(name).requires_same_dim]

B, TQ, TV, D = 2, 5, 7, 8


def make_layer(name, **overrides):
    kwargs = dict(layers.get_class(name).test_kwargs)
    kwargs.update(overrides)
    return layers.get(name, **kwargs)


def make_inputs(rng, batch=B, q_len=TQ, v_len=TV, dim=D):
    query = rng.normal(size=(batch, q_len, dim)).astype("float32")
    value = rng.normal(size=(batch, v_len, dim)).astype("float32")
    return query, value


def lengths_mask(lengths, size):
    return np.arange(size)[None, :] < np.asarray(lengths)[:, None]


def functional_model(layer, q_len=TQ, v_len=TV, dim=D, return_scores=False):
    query = keras.Input((q_len, dim), name="query")
    value = keras.Input((v_len, dim), name="value")
    outputs = layer(query, value, return_attention_scores=return_scores)
    return keras.Model([query, value], outputs)


def gradients(layer, query, value, **call_kwargs):
    """Gradients of a fixed projection of the output w.r.t. the weights and the query.

    Returns (weight_grads, query_grad) as NumPy arrays, on the TensorFlow or JAX backend.
    """
    out_shape = tuple(layer(query, value, **call_kwargs).shape)
    target = np.random.default_rng(1).normal(size=out_shape).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        q = tf.constant(query)
        with tf.GradientTape() as tape:
            tape.watch(q)
            out = tf.cast(layer(q, value, **call_kwargs), "float32")
            loss = tf.reduce_sum(out * target)
        grads = tape.gradient(loss, [*layer.trainable_variables, q])
        return [None if g is None else np.asarray(g) for g in grads[:-1]], np.asarray(grads[-1])
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(weights, q):
            out, _ = layer.stateless_call(weights, non_trainable, q, value, **call_kwargs)
            return jnp.sum(out.astype("float32") * target)

        w_grads, q_grad = jax.grad(loss_fn, argnums=(0, 1))(trainable, jnp.asarray(query))
        return [np.asarray(g) for g in w_grads], np.asarray(q_grad)
    raise NotImplementedError(f"No gradient helper for backend {backend!r}")


def plans_taken(monkeypatch):
    """Records the `Plan` (path and sizes) of every attention call from now on."""
    from attention_zoo.layers import _dispatch

    plans = []
    choose = _dispatch.choose

    def recording(*args, **kwargs):
        plans.append(choose(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(_dispatch, "choose", recording)
    return plans
