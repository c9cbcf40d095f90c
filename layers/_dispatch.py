"""Which compute path serves an attention call: every threshold, and `choose`, the one
function that decides. The paths live in `_direct`, `_tiles`, `_blockwise` and `_fused`.

The platform ("cpu", "gpu", "tpu") and the device memory are arguments of
`choose`, so that the choice for a GPU is tested on a CPU.
"""

import collections
import functools
import math

import keras

IMPLEMENTATIONS = ("auto", "direct", "own_backward", "tiles", "blockwise", "fused")

# CPU: above this many score elements (B · H · Tq · Tv · score width) the
# direct path's (B, H, Tq, Tv) tensors cost more in memory traffic than the
# blocks cost in extra work (README, "Performance").
AUTO_BLOCK_ELEMENTS = 2**26
# Each query block then holds about BLOCK_ELEMENTS of them, or, for matmul
# scores split along the keys too, each (query block, key block) step about
# KEY_BLOCK_ELEMENTS. Blocks are unrolled at trace time, so their number is
# capped: MAX_BLOCKS query blocks, MAX_PAIRS steps.
BLOCK_ELEMENTS = 2**23
KEY_BLOCK_ELEMENTS = 2**21
MAX_BLOCKS = 64
MAX_PAIRS = 256
# From this many (B · H · Tq · Tv) scores on, a matmul score without dropout
# at work takes the direct path with its own backward pass (`_direct.own_backward`);
# smaller inputs, where it saves little, keep the automatic gradient.
OWN_BACKWARD_ELEMENTS = 2**20
# On a CPU the own backward pass runs one tile of heads at a time (`_tiles`) when
# a head's (Tq, Tv) scores are at most MAX_HEAD_TILE floats (16 MB): whole
# heads, as many per tile as fit in HEAD_TILE_ELEMENTS (4 MB), so that a tile
# stays in cache. The tiles recompute the scores' matmul in the backward pass,
# which costs in proportion to the feature size: from MAX_TILED_DIM + 1 on it
# was measured to cost more than the tiles save under XLA.
MAX_HEAD_TILE = 2**22
HEAD_TILE_ELEMENTS = 2**20
MAX_TILED_DIM = 128
# On a CPU a score with a tiled form (the additive one) computes its
# (B, H, rows, Tv, width) tensor in tiles of at most this many floats (4 MB,
# to stay in cache) once the whole tensor would be larger.
SCORE_TILE_ELEMENTS = 2**20
# GPU: the direct path is taken while its tensors fit in this share of the
# device's memory, counting DIRECT_COPIES (B, H, Tq, Tv) float32 tensors for
# the forward and backward passes (and as many of the score's own tensor when
# its width is above 1); else the block-wise path, with blocks of that size.
GPU_MEMORY_SHARE = 0.25
DIRECT_COPIES = 4
# The device memory assumed where the backend cannot say (TensorFlow).
DEFAULT_GPU_MEMORY = 16 * 2**30
# cuDNN's fused attention: float16 / bfloat16 only, a head size that is a
# multiple of 8 and at most this (256 on Hopper; 128 is safe everywhere).
FUSED_DTYPES = ("float16", "bfloat16")
FUSED_MAX_DIM = 128

Plan = collections.namedtuple(
    "Plan", "path blocks group rows upcast loop", defaults=(None, None, None, False, False)
)
Plan.__doc__ = """The chosen path and its sizes.

path: "direct", "own_backward", "tiles", "blockwise" or "fused".
blocks: (query block, key block) of the block-wise path.
group: heads per tile of the tiled own backward pass (a matmul score's "tiles").
rows: query rows per tile of a score with a tiled form, or None for its whole tensor.
loop: whether the split key blocks of the block-wise path run in loops
    (`_blockwise.flash`, traced once) rather than unrolled steps.
upcast: whether the score is computed in float32 from a float16 query and key (a
    float16 q · k overflows from 65504 on; cuDNN's kernel computes it in float32 itself).
"""


def check_implementation(implementation, block_size, key_block_size):
    """Raises ValueError for an unknown name, or block sizes given to a path without blocks."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {', '.join(map(repr, IMPLEMENTATIONS))}. "
            f"Received: implementation={implementation!r}"
        )
    for name, size in (("block_size", block_size), ("key_block_size", key_block_size)):
        if size is not None and implementation not in ("auto", "blockwise"):
            raise ValueError(
                f"{name} sets the blocks of implementation='blockwise' (or 'auto'). "
                f"Received: implementation={implementation!r}, {name}={size!r}"
            )
    return implementation


def choose(
    shape,
    *,
    implementation="auto",
    matmul=False,
    width=1,
    tiles=False,
    weights=False,
    dropout=False,
    dtype="float32",
    block_size=None,
    key_block_size=None,
    platform=None,
    memory=None,
    backend=None,
):
    """The path of one call, as a `Plan`.

    Args:
        shape: (B, H, Tq, Tv, D, Dv) of the prepared query (D) and the values
            (Dv); None (or any non-int) where unknown at trace time.
        implementation: "auto", or the path to force; a forced path that
            cannot serve the call raises a ValueError saying why.
        matmul: whether the score is the matmul of the prepared query and key.
        width: floats the score builds per (query, key) pair.
        tiles: whether the score has a tiled form (`score_tiles`).
        weights: whether the call returns the attention weights.
        dropout: whether dropout is at work (a rate above 0, in training).
        dtype: the compute dtype.
        block_size, key_block_size: the layer's block sizes, or None.
        platform: "cpu", "gpu" or "tpu"; None asks the backend (`current_platform`).
        memory: the device's memory in bytes, or a function returning it;
            None asks the backend (`device_memory`). Read on a GPU only.
        backend: the Keras backend; None: the current one. The fused kernel
            is cuDNN's on JAX only (TensorFlow's op is the direct path's XLA).
    """
    platform = platform or current_platform()
    plan = _choose(
        shape, implementation, matmul, width, tiles, weights, dropout, dtype,
        block_size, key_block_size, platform, memory, backend,
    )  # fmt: skip
    cudnn = plan.path == "fused" and platform == "gpu" and _fused_fits(backend, 8, 8, dtype)
    # Split keys run in loops except where dropout needs the unrolled steps, which
    # draw one seed per step; loops trace once whatever the length. On a CPU the
    # automatic choice keeps the unrolled steps: there the loops were faster but held
    # 3x the memory (B = 1, T = 16,384, multi_head: 10.3 s and 5.7 GB against 15.8 s
    # and 1.8 GB), above the 4 GB that such a call must stay within.
    split = plan.path == "blockwise" and plan.blocks[1] < shape[3]
    chosen_blocks = block_size is not None or key_block_size is not None
    unrolled = dropout or (platform == "cpu" and implementation == "auto" and not chosen_blocks)
    return plan._replace(upcast=dtype == "float16" and not cudnn, loop=split and not unrolled)


def _choose(
    shape, implementation, matmul, width, tiles, weights, dropout, dtype, block_size,
    key_block_size, platform, memory, backend,
):  # fmt: skip
    batch, heads, q_len, k_len, dim, v_dim = (d if isinstance(d, int) else None for d in shape)
    static = q_len is not None and k_len is not None
    if static and (q_len == 0 or k_len == 0):
        return Plan("direct")  # an empty result: nothing to split or fuse
    sizes = (batch or 1, heads or 1, q_len, k_len)
    if implementation != "auto":
        return _forced(
            implementation, sizes, dim, v_dim, matmul, width, tiles, weights, dropout,
            block_size, key_block_size, static,
        )  # fmt: skip
    if block_size is not None or key_block_size is not None:
        if static and not weights:
            budget = _budget(platform, memory, width, matmul)
            return _blockwise(sizes, matmul, width, block_size, key_block_size, budget)
        return Plan("direct")
    if not static:
        return Plan("direct")
    scores = math.prod(sizes)
    if not _direct_fits(platform, memory, scores, width) and not weights:
        rows = None
        if tiles and platform == "cpu":
            rows = _tile_rows(sizes, width)
        budget = _budget(platform, memory, width, matmul)
        return _blockwise(sizes, matmul, width, None, None, budget)._replace(rows=rows)
    if matmul and not weights and not dropout:
        if platform == "gpu" and _fused_fits(backend, dim, v_dim, dtype):
            return Plan("fused")
        if scores >= OWN_BACKWARD_ELEMENTS:
            group = _head_group(heads, q_len, k_len, dim) if platform == "cpu" else None
            return Plan("tiles", group=group) if group else Plan("own_backward")
    if tiles and platform == "cpu" and scores * width > SCORE_TILE_ELEMENTS:
        return Plan("tiles", rows=_tile_rows(sizes, width))
    return Plan("direct")


def _forced(
    name, sizes, dim, v_dim, matmul, width, tiles, weights, dropout, block_size, key_block_size,
    static,
):  # fmt: skip
    needs = []
    if name in ("own_backward", "fused") or (name == "tiles" and not tiles):
        if not matmul:
            needs.append("a score that is a matmul of the prepared query and key")
    if name in ("own_backward", "fused", "tiles", "blockwise") and weights:
        needs.append("return_attention_scores=False")
    if name in ("own_backward", "fused") or (name == "tiles" and matmul):
        if dropout:
            needs.append("no dropout at work (dropout=0 or training=False)")
    if name in ("tiles", "blockwise") and not static:
        needs.append("lengths Tq and Tv known at trace time")
    if name == "blockwise" and key_block_size is not None and not matmul:
        needs.append("a matmul score to split the keys (key_block_size)")
    if needs:
        raise ValueError(
            f"implementation={name!r} cannot serve this call: it needs {' and '.join(needs)}. "
            f"Received: implementation={name!r}"
        )
    if name == "blockwise":
        budget = KEY_BLOCK_ELEMENTS if matmul else BLOCK_ELEMENTS
        return _blockwise(sizes, matmul, width, block_size, key_block_size, budget)
    if name == "tiles":
        if matmul:
            return Plan("tiles", group=_head_group(sizes[1], *sizes[2:], dim, forced=True))
        return Plan("tiles", rows=_tile_rows(sizes, width))
    return Plan(name)


def _direct_fits(platform, memory, scores, width):
    if platform != "gpu":
        return scores * width <= AUTO_BLOCK_ELEMENTS
    extra = DIRECT_COPIES * width if width > 1 else 0
    return scores * 4 * (DIRECT_COPIES + extra) <= GPU_MEMORY_SHARE * _memory(memory)


def _budget(platform, memory, width, matmul):
    """Score elements per block-wise step: fixed on a CPU, from the memory on a GPU."""
    if platform != "gpu":
        return KEY_BLOCK_ELEMENTS if matmul else BLOCK_ELEMENTS
    # 4-byte floats, DIRECT_COPIES of them per score element, and as many again
    # for the (B, H, block, Tv) tensors beside a wide score's.
    return max(int(GPU_MEMORY_SHARE * _memory(memory)) // (8 * DIRECT_COPIES), 1)


def _memory(memory):
    if memory is None:
        memory = device_memory
    return memory() if callable(memory) else memory


def _fused_fits(backend, dim, v_dim, dtype):
    """Whether cuDNN's fused kernel serves these head sizes and dtype (else XLA would)."""
    if (backend or keras.backend.backend()) != "jax" or dtype not in FUSED_DTYPES:
        return False
    if dim is None or dim != v_dim:
        return False
    return dim % 8 == 0 and dim <= FUSED_MAX_DIM


def _tile_rows(sizes, width):
    per_row = math.prod(sizes[:2]) * sizes[3] * width
    return max(min(SCORE_TILE_ELEMENTS // per_row, sizes[2]), 1)


def _blockwise(sizes, matmul, width, block_size, key_block_size, budget):
    """The (query block, key block) sizes of the block-wise path, as a `Plan`.

    `budget` is the score elements of one step: each query block holds about
    that many, in at most MAX_BLOCKS blocks; for a matmul score each (query
    block, key block) step, near-square, in at most MAX_PAIRS steps. A key
    block of Tv means the keys are not split.
    """
    batch, heads, q_len, k_len = sizes
    per_pair = batch * heads * width
    if not matmul:
        block = block_size
        if block is None:
            block = max(budget // (per_pair * k_len), -(-q_len // MAX_BLOCKS), 1)
            block = _even(q_len, min(block, q_len))
        return Plan("blockwise", blocks=(min(block, q_len), k_len))
    area = max(budget // per_pair, 1)
    block = block_size
    if block is None:
        side = max(math.isqrt(area), area // k_len, -(-q_len // math.isqrt(MAX_PAIRS)))
        block = _even(q_len, min(side, q_len))
    block = min(block, q_len)
    key_block = key_block_size
    if key_block is None:
        key_blocks = max(MAX_PAIRS // -(-q_len // block), 1)
        key_block = max(area // block, -(-k_len // key_blocks), 1)
        key_block = _even(k_len, min(key_block, k_len))
    return Plan("blockwise", blocks=(block, min(key_block, k_len)))


def _head_group(heads, q_len, k_len, dim, forced=False):
    """Heads per tile of the tiled own backward pass, or None where it does not pay off.

    `dim` is the feature size of the prepared query; a head's (q_len, k_len)
    scores larger than MAX_HEAD_TILE, or `dim` above MAX_TILED_DIM, keep the
    whole-tensor path unless `forced`.
    """
    if not all(isinstance(d, int) for d in (heads, q_len, k_len, dim)):
        return None
    if not forced and (q_len * k_len > MAX_HEAD_TILE or dim > MAX_TILED_DIM):
        return None
    fits = max(HEAD_TILE_ELEMENTS // (q_len * k_len), 1)
    return max(g for g in range(1, heads + 1) if heads % g == 0 and g <= fits)


def _even(length, block):
    """The size of equal blocks covering `length`, none larger than `block`."""
    return -(-length // -(-length // block))


@functools.cache
def current_platform():
    """ "cpu", "gpu" or "tpu": where the backend computes."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


@functools.cache
def device_memory():
    """Bytes of memory of the first accelerator; DEFAULT_GPU_MEMORY where the backend cannot say."""
    if keras.backend.backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats.get("bytes_limit", DEFAULT_GPU_MEMORY)
    return DEFAULT_GPU_MEMORY
