"""Small-to-medium Theano models for demos, tests and benchmarks.

Every builder returns a :class:`Model`, a 4-tuple
``(inputs, outputs, updates, make_data)``:

- ``inputs``: symbolic inputs (float32 tensors; integer class labels);
- ``outputs``: symbolic outputs (inference: the network's output; training
  step: the loss);
- ``updates``: ``[(shared, new_value), ...]`` -- empty for inference, plain
  SGD on every weight for a training step;
- ``make_data(seed=0)``: a list of random NumPy arrays, one per input.

so that ``theano.function(inputs, outputs, updates=updates, mode=...)``
compiles it and ``f(*make_data())`` runs it. Weights are shared variables
initialised from a fixed seed; every array is float32 (constants are
NumPy float32 so nothing is upcast to float64).

The models are sized to compile in seconds and to run in well under a
second per call on one CPU core, while their activations are large enough
(about 0.5 to 4 MiB each) that memory differences between execution orders
are real. Multi-branch graphs (``inception``, ``densenet``, ``unet``; the
``transformer``'s per-head attention) are where orders differ most;
``mlp``, ``convnet`` and ``rnn`` are nearly chains. Orders differ far more
in training steps (the backward pass keeps forward activations alive and
has a branch per weight gradient) than in inference, whose peak is often
one step every order has to run with the same buffers live (a
concatenation and its inputs).

Two Theano 1.0.5 limits on Python 3.11 without a BLAS library shape the
models: scan runs its Python loop (see lowmem.theano._env), and attention
uses plain dots rather than ``batched_dot``, whose C code does not link.

    from lowmem.theano import _models as models
    inputs, outputs, updates, make_data = models.build("inception", train=True)
    models.names()           # every model name
"""

from typing import Callable, List, NamedTuple

import numpy as np
import theano
import theano.tensor as T
from theano.tensor.nnet import bn, conv2d
from theano.tensor.signal.pool import pool_2d

FLOAT = "float32"
LEARNING_RATE = np.float32(0.01)


class Model(NamedTuple):
    """What a builder returns; unpacks as (inputs, outputs, updates, make_data)."""
    inputs: list
    outputs: list
    updates: list
    make_data: Callable[..., List[np.ndarray]]


def _f32(x):
    return np.float32(x)


class _Params:
    """Shared weights of one model, initialised from one seed."""

    def __init__(self, seed=1234):
        self.rng = np.random.RandomState(seed)
        self.params = []

    def _shared(self, value, name):
        var = theano.shared(value.astype(FLOAT), name=f"{name}_{len(self.params)}")
        self.params.append(var)
        return var

    def weight(self, shape, fan_in, name="W"):
        scale = np.sqrt(2.0 / max(1, fan_in))      # He initialisation (ReLU nets)
        return self._shared(self.rng.normal(0.0, scale, size=shape), name)

    def zeros(self, shape, name="b"):
        return self._shared(np.zeros(shape), name)

    def ones(self, shape, name="g"):
        return self._shared(np.ones(shape), name)

    def conv(self, c_in, c_out, k):
        return self.weight((c_out, c_in, k, k), c_in * k * k, "conv")

    def dense(self, n_in, n_out):
        return self.weight((n_in, n_out), n_in, "dense"), self.zeros((n_out,), "bias")


# ------------------------------------------------------------- building blocks
def _conv(p, x, c_in, c_out, k=3, stride=1, bias=True):
    """Same-size ('half' padded) convolution, optional per-channel bias."""
    y = conv2d(x, p.conv(c_in, c_out, k), border_mode="half", subsample=(stride, stride))
    if bias:
        y = y + p.zeros((c_out,), "cbias").dimshuffle("x", 0, "x", "x")
    return y


def _relu(x):
    return T.nnet.relu(x)


def _batch_norm(p, x, channels, train):
    """Per-channel ('spatial') batch normalisation: batch statistics when
    training, fixed running statistics (shared) at inference."""
    gamma = p.ones((1, channels, 1, 1), "bn_gamma")
    beta = p.zeros((1, channels, 1, 1), "bn_beta")
    if train:
        out, _, _ = bn.batch_normalization_train(x, gamma, beta, axes="spatial")
        return out
    mean = theano.shared(np.zeros((1, channels, 1, 1), FLOAT), name="bn_mean")
    var = theano.shared(np.ones((1, channels, 1, 1), FLOAT), name="bn_var")
    return bn.batch_normalization_test(x, gamma, beta, mean, var, axes="spatial")


def _max_pool(x, k=2):
    return pool_2d(x, ws=(k, k), ignore_border=True, mode="max")


def _avg_pool3(x):
    """3x3 average pooling, stride 1, same size (an Inception pool branch)."""
    return pool_2d(x, ws=(3, 3), stride=(1, 1), pad=(1, 1), ignore_border=True,
                   mode="average_inc_pad")   # exc_pad has no gradient with padding


def _upsample2(x):
    """Nearest-neighbour 2x upsampling of an NCHW tensor."""
    return T.repeat(T.repeat(x, 2, axis=2), 2, axis=3)


def _global_avg(x):
    return x.mean(axis=(2, 3))


def _classify(p, features, n_in, n_classes):
    w, b = p.dense(n_in, n_classes)
    return T.dot(features, w) + b


# ------------------------------------------------------------- model wrappers
def _images(batch, channels, size, name="x"):
    var = T.tensor4(name, dtype=FLOAT)
    shape = (batch, channels, size, size)
    return var, shape


def _classifier_model(p, x, x_shape, logits, n_classes, train):
    """Inference: softmax probabilities. Training: cross-entropy + SGD."""
    batch = x_shape[0]
    if not train:
        def make_data(seed=0):
            return [np.random.RandomState(seed).standard_normal(x_shape).astype(FLOAT)]
        return Model([x], [T.nnet.softmax(logits)], [], make_data)
    y = T.ivector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), y).mean()

    def make_data(seed=0):
        rng = np.random.RandomState(seed)
        return [rng.standard_normal(x_shape).astype(FLOAT),
                rng.randint(0, n_classes, size=batch).astype("int32")]
    return Model([x, y], [loss], _sgd(loss, p.params), make_data)


def _regression_model(p, inputs, input_shapes, prediction, target_shape, train):
    """Inference: the prediction. Training: mean squared error + SGD."""
    if not train:
        def make_data(seed=0):
            rng = np.random.RandomState(seed)
            return [rng.standard_normal(s).astype(FLOAT) for s in input_shapes]
        return Model(list(inputs), [prediction], [], make_data)
    target = T.TensorType(FLOAT, (False,) * len(target_shape))("target")
    loss = T.sqr(prediction - target).mean()

    def make_data(seed=0):
        rng = np.random.RandomState(seed)
        return [rng.standard_normal(s).astype(FLOAT)
                for s in list(input_shapes) + [target_shape]]
    return Model(list(inputs) + [target], [loss], _sgd(loss, p.params), make_data)


def _sgd(loss, params):
    grads = T.grad(loss, params)
    return [(w, w - LEARNING_RATE * g) for w, g in zip(params, grads)]


# ------------------------------------------------------------------- models
def mlp(train=False, batch=256, n_in=1024, hidden=(1024, 1024, 1024), n_classes=10, seed=1):
    """Multi-layer perceptron: dense + ReLU layers (a chain)."""
    p = _Params(seed)
    x = T.matrix("x", dtype=FLOAT)
    h, width = x, n_in
    for n in hidden:
        w, b = p.dense(width, n)
        h, width = _relu(T.dot(h, w) + b), n
    logits = _classify(p, h, width, n_classes)
    return _classifier_model(p, x, (batch, n_in), logits, n_classes, train)


def convnet(train=False, batch=16, size=32, channels=(32, 64, 128), n_classes=10, seed=2):
    """Plain convnet: (conv, ReLU, conv, ReLU, max-pool) per stage, global
    average pooling and a dense classifier (a chain)."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)
    h, c = x, 3
    for c_out in channels:
        h = _relu(_conv(p, h, c, c_out))
        h = _max_pool(_relu(_conv(p, h, c_out, c_out)))
        c = c_out
    logits = _classify(p, _global_avg(h), c, n_classes)
    return _classifier_model(p, x, x_shape, logits, n_classes, train)


def resnet(train=False, batch=16, size=32, widths=(32, 64), blocks=2, n_classes=10,
           batch_norm=True, seed=3):
    """ResNet-like: stages of residual blocks (conv-BN-ReLU-conv-BN + skip,
    ReLU); the first block of a later stage downsamples with stride 2 and a
    1x1 projection on the skip."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)

    def norm(h, c):
        return _batch_norm(p, h, c, train) if batch_norm else h

    c = widths[0]
    h = _relu(norm(_conv(p, x, 3, c, bias=not batch_norm), c))
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            r = _relu(norm(_conv(p, h, c, width, stride=stride, bias=not batch_norm), width))
            r = norm(_conv(p, r, width, width, bias=not batch_norm), width)
            skip = h if (stride == 1 and c == width) else _conv(p, h, c, width, k=1,
                                                                 stride=stride, bias=False)
            h, c = _relu(r + skip), width
    logits = _classify(p, _global_avg(h), c, n_classes)
    return _classifier_model(p, x, x_shape, logits, n_classes, train)


def inception(train=False, batch=16, size=32, stem=32, modules=2, n_classes=10, seed=4):
    """Inception-like: modules of four parallel branches (1x1; 1x1 then 3x3;
    1x1 then 5x5; 3x3 average pool then 1x1) concatenated on channels, a
    max-pool between modules."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)
    h, c = _relu(_conv(p, x, 3, stem)), stem
    for m in range(modules):
        b = 16 * (m + 1)                       # branch width
        b1 = _relu(_conv(p, h, c, b, k=1))
        b2 = _relu(_conv(p, _relu(_conv(p, h, c, b, k=1)), b, 2 * b, k=3))
        b3 = _relu(_conv(p, _relu(_conv(p, h, c, b // 2, k=1)), b // 2, b, k=5))
        b4 = _relu(_conv(p, _avg_pool3(h), c, b, k=1))
        h, c = T.concatenate([b1, b2, b3, b4], axis=1), 5 * b
        if m < modules - 1:
            h = _max_pool(h)
    logits = _classify(p, _global_avg(h), c, n_classes)
    return _classifier_model(p, x, x_shape, logits, n_classes, train)


def densenet(train=False, batch=16, size=32, stem=32, growth=16, layers=4, blocks=2,
             n_classes=10, seed=5):
    """DenseNet-like: in a dense block each layer (1x1 bottleneck, ReLU,
    3x3 conv, ReLU) reads the concatenation of the block input and every
    earlier layer's output; a transition (1x1 conv, 2x2 average pool)
    between blocks."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)
    h, c = _relu(_conv(p, x, 3, stem)), stem
    for blk in range(blocks):
        features = [h]
        for _ in range(layers):
            inp = features[0] if len(features) == 1 else T.concatenate(features, axis=1)
            cin = c + growth * (len(features) - 1)
            y = _relu(_conv(p, inp, cin, 4 * growth, k=1))
            features.append(_relu(_conv(p, y, 4 * growth, growth, k=3)))
        h, c = T.concatenate(features, axis=1), c + growth * layers
        if blk < blocks - 1:
            h = _relu(_conv(p, h, c, c // 2, k=1))
            h = pool_2d(h, ws=(2, 2), ignore_border=True, mode="average_exc_pad")
            c //= 2
    logits = _classify(p, _global_avg(h), c, n_classes)
    return _classifier_model(p, x, x_shape, logits, n_classes, train)


def unet(train=False, batch=4, size=64, base=16, levels=3, seed=6):
    """U-Net: an encoder of (conv, ReLU) x2 + max-pool levels, a bottleneck,
    and a decoder that upsamples (nearest) and concatenates the encoder's
    skip of the same level before its convs; 1x1 conv to one channel out.
    Training regresses a random target image (mean squared error)."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)

    def double_conv(h, c_in, c_out):
        h = _relu(_conv(p, h, c_in, c_out))
        return _relu(_conv(p, h, c_out, c_out))

    skips, h, c = [], x, 3
    for level in range(levels):
        width = base * 2 ** level
        h = double_conv(h, c, width)
        skips.append((h, width))
        h, c = _max_pool(h), width
    h, c = double_conv(h, c, base * 2 ** levels), base * 2 ** levels
    for skip, width in reversed(skips):
        up = _relu(_conv(p, _upsample2(h), c, width, k=1))
        h, c = double_conv(T.concatenate([skip, up], axis=1), 2 * width, width), width
    out = _conv(p, h, c, 1, k=1)
    return _regression_model(p, [x], [x_shape], out, (batch, 1, size, size), train)


def rnn(train=False, steps=32, batch=64, n_in=256, hidden=512, n_out=256, seed=7):
    """Elman RNN with theano.scan (h_t = tanh(x_t W + h_{t-1} U + b)) and a
    dense read-out of every hidden state. (On Python >= 3.11 the scan runs
    Theano's Python loop: see lowmem.theano._env.)"""
    p = _Params(seed)
    x = T.tensor3("x", dtype=FLOAT)                       # (steps, batch, n_in)
    w, b = p.dense(n_in, hidden)
    u = p.weight((hidden, hidden), hidden, "U")
    h0 = T.zeros((x.shape[1], hidden), dtype=FLOAT)
    xw = T.dot(x, w) + b                                  # input projection, all steps
    hs, _ = theano.scan(lambda xw_t, h, u_: T.tanh(xw_t + T.dot(h, u_)),
                        sequences=xw, outputs_info=h0, non_sequences=[u], strict=True)
    wo, bo = p.dense(hidden, n_out)
    out = T.dot(hs, wo) + bo                              # (steps, batch, n_out)
    return _regression_model(p, [x], [(steps, batch, n_in)], out,
                             (steps, batch, n_out), train)


def transformer(train=False, batch=4, length=256, dim=256, heads=4, ff=1024, layers=1,
                seed=8):
    """Transformer encoder block(s), post-norm: multi-head self-attention
    + residual + layer norm, then a ReLU feed-forward + residual + layer
    norm.

    Attention is computed per (sequence, head) pair with plain dots, so
    each layer has batch x heads parallel branches (scores, softmax,
    context) joined by concatenation: Theano's BatchedDot C code does not
    link without a BLAS library (blas.ldflags empty, as here), in any mode.
    """
    p = _Params(seed)
    x = T.tensor3("x", dtype=FLOAT)                       # (batch, length, dim)
    dh = dim // heads
    scale = _f32(1.0 / np.sqrt(dh))

    def layer_norm(h):
        gamma, beta = p.ones((dim,), "ln_gamma"), p.zeros((dim,), "ln_beta")
        mean = h.mean(axis=-1, keepdims=True)
        var = T.sqr(h - mean).mean(axis=-1, keepdims=True)
        return (h - mean) / T.sqrt(var + _f32(1e-5)) * gamma + beta

    h = x.reshape((batch * length, dim))
    for _ in range(layers):
        wq, bq = p.dense(dim, dim)
        wk, bk = p.dense(dim, dim)
        wv, bv = p.dense(dim, dim)
        wo, bo = p.dense(dim, dim)
        q, k, v = (T.dot(h, w_) + b_ for w_, b_ in ((wq, bq), (wk, bk), (wv, bv)))
        rows = []
        for b in range(batch):
            r = slice(b * length, (b + 1) * length)
            ctx = []
            for hd in range(heads):
                c = slice(hd * dh, (hd + 1) * dh)
                attn = T.nnet.softmax(T.dot(q[r, c], k[r, c].T) * scale)   # (L, L)
                ctx.append(T.dot(attn, v[r, c]))                         # (L, dh)
            rows.append(T.concatenate(ctx, axis=1))
        ctx = T.concatenate(rows, axis=0)                                 # (B*L, dim)
        h = layer_norm(h + T.dot(ctx, wo) + bo)
        w1, b1 = p.dense(dim, ff)
        w2, b2 = p.dense(ff, dim)
        h = layer_norm(h + T.dot(_relu(T.dot(h, w1) + b1), w2) + b2)
    out = h.reshape((batch, length, dim))
    return _regression_model(p, [x], [(batch, length, dim)], out,
                             (batch, length, dim), train)


# ------------------------------------------------------------------ registry
MODELS = {
    "mlp": mlp,
    "convnet": convnet,
    "resnet": resnet,
    "inception": inception,
    "densenet": densenet,
    "unet": unet,
    "rnn": rnn,
    "transformer": transformer,
}

#: Models with parallel branches, where execution orders differ most.
MULTI_BRANCH = ("inception", "densenet", "unet")


def names():
    """Every model name, in a fixed order."""
    return list(MODELS)


def build(name, train=False, **options):
    """Build model `name` (inference, or a training step if `train`);
    `options` are the builder's size parameters."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    return builder(train=train, **options)
