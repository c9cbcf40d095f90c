"""The direct path of a matmul score with its own backward pass, one tile of heads at a time.

On a CPU a tile's scores stay in cache between the ops that use them; the
dispatcher (`_dispatch`) takes this path there only.
"""

from keras import ops

from attention_zoo.layers._direct import masked_exp, nonzero


def attend(q, k, v, mask, group, dtype):
    """`_direct.own_backward` one tile of `group` heads of one batch row at a time.

    The whole-tensor path writes each (B, H, Tq, Tv) tensor to memory and
    reads it back in the next op; here a loop (`keras.ops.map`) takes one
    tile of heads at a time, whose scores stay in cache from the matmul
    that makes them to the one that uses them. The forward pass keeps only
    the output and each row's log-sum-exp L; the backward pass, a second
    loop, recomputes the tile's weights as W = exp(q' k'ᵀ - L) (one more
    matmul) and then applies the formulas of `_direct.own_backward`. All in
    float32; a fully masked row has zero weights and output.
    """
    batch, heads = ops.shape(q)[0], q.shape[1]
    q_len = q.shape[2]
    per_row = heads // group  # tiles per batch row
    tiles = batch * per_row
    if mask is not None:
        mask = mask[:, 0]  # (B or 1, Tq or 1, Tv or 1)
    # The batch row of each tile, for the mask.
    rows = () if mask is None else (ops.arange(tiles) // per_row,)

    def flat(x):
        return ops.reshape(ops.cast(x, "float32"), (tiles, group, x.shape[2], x.shape[3]))

    def tile_mask(row=None):
        if mask is None:
            return None
        if mask.shape[0] == 1:
            return mask[:1]
        return ops.expand_dims(ops.take(mask, row, axis=0), 0)

    # Products with a transposed factor are einsums, which fold the
    # transpose into the matmul (a transposed (Tq, Tv) copy costs a pass).
    def scores(q_tile, k_tile):
        return ops.einsum("gqd,gkd->gqk", q_tile, k_tile)

    @ops.custom_gradient
    def run(q, k, v):
        def forward(item):
            *row, q_tile, k_tile, v_tile = item
            logits, valid = scores(q_tile, k_tile), tile_mask(*row)
            if valid is None:
                top = ops.max(logits, axis=-1, keepdims=True)
                probs = ops.exp(logits - top)
                total = ops.sum(probs, axis=-1, keepdims=True)
            else:
                probs, total, top = masked_exp(logits, valid)
            total = nonzero(total)
            return ops.matmul(probs, v_tile) / total, top + ops.log(total)

        output, log_total = ops.map(forward, (*rows, q, k, v))

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream

            def backward(item):
                *row, q_tile, k_tile, v_tile, out_tile, log_tile, up_tile = item
                weights = ops.exp(scores(q_tile, k_tile) - log_tile)
                valid = tile_mask(*row)
                if valid is not None:
                    weights = ops.where(valid, weights, 0.0)
                d_v = ops.einsum("gqk,gqd->gkd", weights, up_tile)
                row_sum = ops.sum(up_tile * out_tile, axis=-1, keepdims=True)
                d_scores = weights * (ops.einsum("gqd,gkd->gqk", up_tile, v_tile) - row_sum)
                d_q = ops.matmul(d_scores, k_tile)
                d_k = ops.einsum("gqk,gqd->gkd", d_scores, q_tile)
                return d_q, d_k, d_v

            items = (*rows, q, k, v, output, log_total, upstream)
            return ops.map(backward, items)

        return output, grad

    output = run(flat(q), flat(k), flat(v))
    output = ops.reshape(output, (batch, heads, q_len, v.shape[3]))
    return ops.cast(output, dtype)
