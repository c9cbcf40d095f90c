"""The block-wise path: queries a block of rows at a time, and for matmul scores an online
softmax over key blocks, so that memory grows with a block, not with Tq · Tv.
"""

import keras
import numpy as np
from keras import ops

from attention_zoo.layers._direct import FLOOR, and_masks, masked_softmax, nonzero


def attend(q, k, v, score, masks, use_causal_mask, blocks, dropout, seed, dtype, loop=False):
    """Attention one query block at a time; (B, H, Tq, Dv) like `matmul(weights, v)`.

    `q`, `k` are the prepared query and key, `score` maps a query block and
    keys to logits, `masks` is (query_mask, key_mask, attention_mask), each
    None or boolean, `blocks` the (query block, key block) sizes (a key
    block below Tv splits the keys: only for matmul scores), `dropout` the
    rate in force and `seed` its seed generator. With `loop` (split keys and
    no dropout only) the key blocks run in `flash`'s loops instead.

    With keys unsplit, each block sees every key, so its softmax is exact
    and the blocks need no rescaling; with a causal mask the keys after the
    block's last query (zero weight) are left out. Each block runs under
    `keras.remat`: the backward pass recomputes its (B, H, block, Tv)
    tensors instead of keeping them, so memory stays O(block · Tv) in
    training as well. With split keys see `_online`. Dropout draws one seed
    per block before the block runs, so the recomputation drops exactly what
    the forward pass dropped.
    """
    block, key_block = blocks
    query_mask, key_mask, attention_mask = masks
    q_len, k_len = q.shape[2], k.shape[2]
    online = key_block < k_len
    if online and loop:
        return flash(q, k, v, masks, use_causal_mask, blocks, dtype)
    if online:
        # Key blocks split once: the gradient of a split is a concatenation, where that of
        # a slice in every step would be a zero-padded (B, H, Tv, D) tensor per key block.
        edges = list(range(key_block, k_len, key_block))
        k_blocks = ops.split(k, edges, axis=2) if edges else [k]
        v_blocks = ops.split(v, edges, axis=2) if edges else [v]
    outputs = []
    for start in range(0, q_len, block):
        stop = min(start + block, q_len)
        k_stop = min(stop, k_len) if use_causal_mask else k_len
        block_seed = seed.next() if dropout else None
        q_block = q[:, :, start:stop]
        if online:
            count = -(-k_stop // key_block)  # the key blocks before k_stop
            keys, values = list(k_blocks[:count]), list(v_blocks[:count])
            cut = k_stop - (count - 1) * key_block
            if cut < keys[-1].shape[2]:  # causal: the last block ends at k_stop
                keys[-1], values[-1] = keys[-1][:, :, :cut], values[-1][:, :, :cut]
            step = _online(score, start, stop, masks, use_causal_mask, key_block, dropout)
            run = _bind(step, block_seed, dtype)
            blocks_kv = (*keys, *values)
            if outputs:  # one query block after the other, forward and backward
                q_block = _after(q_block, outputs[-1])
        else:
            mask = None
            if attention_mask is not None:
                mask = attention_mask[:, start:stop, :k_stop]
            if query_mask is not None:
                mask = and_masks(mask, ops.expand_dims(query_mask[:, start:stop], -1))
            if key_mask is not None:
                mask = and_masks(mask, ops.expand_dims(key_mask[:, :k_stop], -2))
            if use_causal_mask:
                q_idx = ops.expand_dims(ops.arange(start, stop), -1)
                mask = and_masks(mask, ops.expand_dims(ops.arange(k_stop) <= q_idx, 0))
            if mask is not None:
                mask = ops.expand_dims(mask, 1)
            run = _block(score, mask, dropout, block_seed, dtype)
            blocks_kv = (k[:, :, :k_stop], v[:, :, :k_stop])
        outputs.append(keras.remat(run)(q_block, *blocks_kv))
    output = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=2)
    if online and query_mask is not None:
        # Masked queries get zero weights; cheaper here than in every step.
        output = ops.where(query_mask[:, None, :, None], output, ops.zeros_like(output))
    return output


def _bind(step, seed, dtype):
    # Masks and seeds are closed over: they take no gradient.
    def run(q, *blocks):
        return step(q, blocks, seed, dtype)

    return run


def _block(score, mask, dropout, seed, dtype):
    def run(q, k, v):
        weights = masked_softmax(score(q, k), mask, dtype)
        if seed is not None:
            weights = keras.random.dropout(weights, dropout, seed=_FixedSeed(seed))
        return ops.matmul(weights, v)

    return run


def _online(score, start, stop, masks, use_causal_mask, key_block, dropout):
    """Queries start:stop over key blocks with an online softmax (Milakov & Gimelshein, 2018).

    Each step takes one key block and updates, per query row, the running
    maximum m of the logits, the running sum l of exp(logit - m) and the
    running output o = Σ exp(logit - m) · v, rescaling l and o by
    exp(m_old - m_new) when the maximum grows; the output is o / l.
    Dropout drops the unnormalised exp(logit - m) before they enter o but
    not l, which is dropout(exp / l) since dropout is elementwise. Each
    step runs under `keras.remat`, so the backward pass keeps only the
    (B, H, block, Dv + 2) running state per step, not the step's scores.
    With a causal mask the key blocks end at the block's last query and
    key blocks wholly before its first query need no causal mask.
    """
    _, key_mask, attention_mask = masks
    q_idx = ops.expand_dims(ops.arange(start, stop), -1)

    def attend_block(q, blocks, seed, dtype):
        keys, values = blocks[: len(blocks) // 2], blocks[len(blocks) // 2 :]
        state = ()
        for index, (k, v) in enumerate(zip(keys, values, strict=True)):
            k_start = index * key_block
            k_stop = k_start + k.shape[2]
            mask = None
            if attention_mask is not None:
                mask = attention_mask[:, start:stop, k_start:k_stop]
            if key_mask is not None:
                mask = and_masks(mask, ops.expand_dims(key_mask[:, k_start:k_stop], -2))
            if use_causal_mask and k_stop - 1 > start:
                causal = ops.arange(k_start, k_stop) <= q_idx
                mask = and_masks(mask, ops.expand_dims(causal, 0))
            if mask is not None:
                mask = ops.expand_dims(mask, 1)
            step_seed = None
            if seed is not None:  # a seed per key block, derived from the query block's
                seed_dtype = keras.backend.standardize_dtype(seed.dtype)
                step_seed = seed + ops.convert_to_tensor(np.array([index, 0]), dtype=seed_dtype)
            step = keras.remat(_online_step(score, mask, dropout, step_seed, dtype))
            state = step(q, k, v, *state)
        output, total, _ = state
        total = nonzero(total)  # a fully masked row: o = 0
        return ops.cast(output / ops.expand_dims(total, -1), dtype)

    return attend_block


def _online_step(score, mask, dropout, seed, dtype):
    # The running maximum only shifts the exponent: the result does not
    # depend on it, so it takes no gradient. The running output comes
    # first: TensorFlow's remat makes the recomputation wait for the
    # gradient of the first output, which must be a real one, else every
    # step is recomputed at once and its scores are held until used.
    def step(q, k, v, *state):
        if state:  # one key block after the other
            q = _after(q, ops.stop_gradient(state[1]))
        logits = ops.cast(score(q, k), "float32")
        if mask is not None:
            logits = ops.where(mask, logits, -np.inf)
        maximum = ops.maximum(ops.stop_gradient(ops.max(logits, axis=-1)), FLOOR)
        if state:
            output, total, running_max = state
            running_max = ops.stop_gradient(running_max)
            maximum = ops.maximum(running_max, maximum)
            rescale = ops.exp(running_max - maximum)
        probs = ops.exp(logits - ops.expand_dims(maximum, -1))  # masked: exp(-inf) = 0
        block_total = ops.sum(probs, axis=-1)
        if seed is not None:
            probs = keras.random.dropout(probs, dropout, seed=_FixedSeed(seed))
        values = ops.matmul(ops.cast(probs, dtype), v)
        block_output = ops.cast(values, "float32")
        if not state:
            return block_output, block_total, maximum
        return (
            ops.expand_dims(rescale, -1) * output + block_output,
            rescale * total + block_total,
            maximum,
        )

    return step


def _after(x, previous):
    """`x`, computed after `previous`: adds a zero taken from `previous`.

    The blocks are independent except for this: without it TensorFlow's
    executor may compute the scores of many blocks before it consumes them,
    which holds many tiles of scores at a time.
    """
    zero = ops.sum(previous[:, :1, :1] * 0)
    return x + ops.cast(zero, x.dtype)


class _FixedSeed(keras.random.SeedGenerator):
    """A seed generator that always yields one given seed tensor.

    `keras.random` takes seeds as integers or generators; this hands it a seed
    drawn earlier, so a recomputed block draws the same dropout mask.
    """

    def __init__(self, seed):  # no state variable, on purpose
        self._seed = seed

    def next(self, ordered=True):
        return self._seed


def flash(q, k, v, masks, use_causal_mask, blocks, dtype):
    """The online softmax of a matmul score in loops over blocks, with its own backward pass.

    The same result as `attend` with split keys and no dropout, but traced
    once whatever the number of blocks: `keras.ops.map` over query blocks,
    each a `keras.ops.fori_loop` over key blocks carrying the running
    maximum, sum and output, so compile time does not grow with the length.
    The forward pass keeps the output and each row's log-sum-exp L; the
    backward pass loops over key blocks, and in each over the query blocks
    that see it, recomputing the weights as W = exp(q kᵀ - L) (Dao et al.,
    2022). With a causal mask the loops skip the blocks above the diagonal.
    All in float32; rows with no valid key have zero output.
    """
    block, key_block = blocks
    query_mask, key_mask, attention_mask = masks
    heads, q_len, k_len = q.shape[1], q.shape[2], k.shape[2]
    n_q, n_k = -(-q_len // block), -(-k_len // key_block)
    pad_q, pad_k = n_q * block - q_len, n_k * key_block - k_len
    valid_keys = key_mask
    if pad_k and valid_keys is None:
        valid_keys = ops.ones((1, k_len), "bool")
    if valid_keys is not None:
        valid_keys = ops.pad(valid_keys, [(0, 0), (0, pad_k)], constant_values=False)
    if attention_mask is not None:
        attention_mask = ops.pad(
            attention_mask, [(0, 0), (0, pad_q), (0, pad_k)], constant_values=False
        )

    def block_mask(i, j):
        """The (B or 1, 1, block, key block) mask of query block i and key block j, or None."""
        mask = None
        if valid_keys is not None:
            size = (ops.shape(valid_keys)[0], key_block)
            keys = ops.slice(valid_keys, (0, j * key_block), size)
            mask = keys[:, None, None, :]
        if attention_mask is not None:
            shape = (ops.shape(attention_mask)[0], block, key_block)
            pairs = ops.slice(attention_mask, (0, i * block, j * key_block), shape)
            mask = and_masks(mask, pairs[:, None])
        if use_causal_mask:
            rows = ops.expand_dims(i * block + ops.arange(block), -1)
            causal = j * key_block + ops.arange(key_block) <= rows
            mask = and_masks(mask, causal[None, None])
        return mask

    def key_stop(i):  # the key blocks that query block i sees
        if not use_causal_mask:
            return n_k
        return ops.minimum((i + 1) * block + key_block - 1, n_k * key_block) // key_block

    def query_start(j):  # the first query block that sees key block j
        return (j * key_block) // block if use_causal_mask else 0

    def rows(x, i, size):  # rows i * size ... of a (B, H, T, D) or (B, H, T) tensor
        start = (0, 0, i * size) + (0,) * (len(x.shape) - 3)
        return ops.slice(x, start, (ops.shape(x)[0], heads, size, *x.shape[3:]))

    @ops.custom_gradient
    def run(q, k, v):
        def forward(item):
            i, q_i = item
            zeros = ops.zeros_like(q_i[..., 0])  # (B, H, block); B may be unknown
            init = (
                ops.expand_dims(zeros, -1) + ops.zeros((v.shape[3],), "float32"),
                zeros,
                zeros + FLOOR,
            )

            def body(j, state):
                output, total, maximum = state
                k_j, v_j = rows(k, j, key_block), rows(v, j, key_block)
                logits = ops.einsum("bhqd,bhkd->bhqk", q_i, k_j)
                mask = block_mask(i, j)
                if mask is not None:
                    logits = ops.where(mask, logits, -np.inf)
                new_max = ops.maximum(maximum, ops.max(logits, axis=-1))
                rescale = ops.exp(maximum - new_max)
                probs = ops.exp(logits - ops.expand_dims(new_max, -1))
                output = ops.expand_dims(rescale, -1) * output + ops.matmul(probs, v_j)
                return output, rescale * total + ops.sum(probs, axis=-1), new_max

            output, total, maximum = ops.fori_loop(0, key_stop(i), body, init)
            total = nonzero(total)
            return output / ops.expand_dims(total, -1), maximum + ops.log(total)

        q_blocks = ops.stack(ops.split(q, n_q, axis=2)) if n_q > 1 else q[None]
        output, log_total = ops.map(forward, (ops.arange(n_q), q_blocks))
        output = ops.concatenate(ops.unstack(output), axis=2) if n_q > 1 else output[0]
        log_total = ops.concatenate(ops.unstack(log_total), axis=2) if n_q > 1 else log_total[0]

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            row_sum = ops.sum(upstream * output, axis=-1)  # rowsum(G ⊙ O)

            def outer(j, grads):
                d_q, d_k, d_v = grads
                k_j, v_j = rows(k, j, key_block), rows(v, j, key_block)

                def inner(i, state):
                    d_q, d_k_j, d_v_j = state
                    q_i, up_i = rows(q, i, block), rows(upstream, i, block)
                    logits = ops.einsum("bhqd,bhkd->bhqk", q_i, k_j)
                    weights = ops.exp(logits - ops.expand_dims(rows(log_total, i, block), -1))
                    mask = block_mask(i, j)
                    if mask is not None:
                        weights = ops.where(mask, weights, 0.0)
                    d_v_j = d_v_j + ops.einsum("bhqk,bhqd->bhkd", weights, up_i)
                    d_weights = ops.einsum("bhqd,bhkd->bhqk", up_i, v_j)
                    d_scores = weights * (d_weights - ops.expand_dims(rows(row_sum, i, block), -1))
                    d_k_j = d_k_j + ops.einsum("bhqk,bhqd->bhkd", d_scores, q_i)
                    d_q_i = rows(d_q, i, block) + ops.matmul(d_scores, k_j)
                    d_q = ops.slice_update(d_q, (0, 0, i * block, 0), d_q_i)
                    return d_q, d_k_j, d_v_j

                init = (d_q, ops.zeros_like(k_j), ops.zeros_like(v_j))
                d_q, d_k_j, d_v_j = ops.fori_loop(query_start(j), n_q, inner, init)
                d_k = ops.slice_update(d_k, (0, 0, j * key_block, 0), d_k_j)
                d_v = ops.slice_update(d_v, (0, 0, j * key_block, 0), d_v_j)
                return d_q, d_k, d_v

            init = (ops.zeros_like(q), ops.zeros_like(k), ops.zeros_like(v))
            return ops.fori_loop(0, n_k, outer, init)

        return output, grad

    def padded(x, pad):
        x = ops.cast(x, "float32")
        return ops.pad(x, [(0, 0), (0, 0), (0, pad), (0, 0)]) if pad else x

    output = run(padded(q, pad_q), padded(k, pad_k), padded(v, pad_k))[:, :, :q_len]
    if query_mask is not None:  # masked queries get zero weights
        output = ops.where(query_mask[:, None, :, None], output, ops.zeros_like(output))
    return ops.cast(output, dtype)
