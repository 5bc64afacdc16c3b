"""lowmem's model zoo (lowmem/theano/_models.py) built in PyTensor.

The same builders, with the same names, sizes and contract: each returns
a :class:`Model`, a 4-tuple ``(inputs, outputs, updates, make_data)``:

- ``inputs``: symbolic inputs (float32 tensors; int32 class labels);
- ``outputs``: inference: the network's output; training step: the loss;
- ``updates``: ``[(shared, new_value), ...]``: empty for inference, plain
  SGD on every weight for a training step;
- ``make_data(seed=0)``: a list of random NumPy arrays, one per input,

so that ``pytensor.function(inputs, outputs, updates=updates, mode=...)``
compiles it and ``f(*make_data())`` runs it. Weights are shared variables
initialised from a fixed seed; every array is float32 (constants are NumPy
float32, so nothing is upcast to float64).

What differs from the Theano zoo, because PyTensor 3.3 has no ``nnet``
module (no ``conv2d``, pooling, batch normalisation, ``relu``,
``categorical_crossentropy``) and its ``pytensor.tensor.signal.convolve2d``
is single-channel signal convolution:

- images are NCHW at the inputs and outputs, as in Theano, but the
  networks work in NHWC (channels last), so that a convolution is one
  matrix product over the channels: a k x k convolution ('half' padding,
  optional stride) zero-pads its input (``set_subtensor`` into zeros),
  takes the k * k shifted strided slices, concatenates them on the channel
  axis (im2col) and multiplies by the weights reshaped to
  (k * k * c_in, c_out); a 1 x 1 convolution with stride 1 is the product
  alone. Weights are stored (k, k, c_in, c_out).
- max and average pooling over 2 x 2 windows reshape each spatial axis to
  (size / 2, 2) and reduce; the Inception pool branch (3 x 3 average,
  stride 1, padding 1, divided by 9 everywhere, Theano's
  ``average_inc_pad``) sums the nine shifted slices of the padded input.
- batch normalisation is written out (batch statistics over N, H, W when
  training; shared running statistics at inference), ReLU is
  ``maximum(x, 0)``, the classifier's loss is ``-mean(log_softmax(logits)
  [arange(batch), y])``.
- ``rnn`` uses ``pytensor.scan``; ``transformer``'s attention is computed
  per (sequence, head) with plain dots, as in the Theano zoo, so that each
  layer has batch x heads parallel branches.

The image models fix their input's shape (``specify_shape``: a call with
another shape raises), so that their slices and reshapes are constants
(PyTensor's rewrites took minutes over symbolic slice bounds); ``mlp``,
``rnn`` and the dense layers take any batch size (``transformer`` reshapes
to its batch and length).

    from lowmem.pytensor import _models as models
    inputs, outputs, updates, make_data = models.build("inception", train=True)
    models.names()           # every model name
"""

from typing import Callable, List, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt

FLOAT = "float32"
LEARNING_RATE = np.float32(0.01)
ZERO = np.float32(0.0)


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
        self.rng = np.random.default_rng(seed)
        self.params = []

    def _shared(self, value, name):
        var = pytensor.shared(np.asarray(value, dtype=FLOAT), name=f"{name}_{len(self.params)}")
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
        return self.weight((k, k, c_in, c_out), c_in * k * k, "conv")

    def dense(self, n_in, n_out):
        return self.weight((n_in, n_out), n_in, "dense"), self.zeros((n_out,), "bias")


# ------------------------------------------------------------- building blocks
def _dims(x):
    """x's shape: each dimension a Python int where the type knows it (the
    image models fix their input's shape with specify_shape, so that the
    slices and reshapes below are constants: PyTensor's rewrites take many
    times longer over symbolic slice bounds), else symbolic."""
    return tuple(d if d is not None else x.shape[i] for i, d in enumerate(x.type.shape))


def _pad(x, pad):
    """x (NHWC) with `pad` zeros on each side of H and W."""
    if pad == 0:
        return x
    n, h, w, c = _dims(x)
    z = pt.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=FLOAT)
    return pt.set_subtensor(z[:, pad:pad + h, pad:pad + w, :], x)


def _shifted(xp, h, w, k, stride):
    """The k * k shifted, strided windows of a padded NHWC tensor whose
    unpadded spatial size is (h, w): each (n, h // stride, w // stride, c)."""
    out = []
    for i in range(k):
        for j in range(k):
            out.append(xp[:, i:i + h:stride, j:j + w:stride, :])
    return out


def _conv(p, x, c_in, c_out, k=3, stride=1, bias=True):
    """Same-size ('half' padded) convolution of an NHWC tensor (im2col and
    one matrix product), optional per-channel bias."""
    weights = p.conv(c_in, c_out, k)
    n, h, w, _ = _dims(x)
    if k == 1 and stride == 1:
        cols = x
    else:
        if k == 1:
            cols = x[:, ::stride, ::stride, :]
        else:
            windows = _shifted(_pad(x, k // 2), h, w, k, stride)
            cols = pt.concatenate(windows, axis=3)
    _, ho, wo, _ = _dims(cols)
    flat = cols.reshape((n * ho * wo, k * k * c_in))
    y = pt.dot(flat, weights.reshape((k * k * c_in, c_out))).reshape((n, ho, wo, c_out))
    if bias:
        y = y + p.zeros((c_out,), "cbias")
    return y


def _relu(x):
    return pt.maximum(x, ZERO)


def _batch_norm(p, x, channels, train):
    """Per-channel batch normalisation of an NHWC tensor: batch statistics
    when training, fixed running statistics (shared) at inference."""
    gamma = p.ones((channels,), "bn_gamma")
    beta = p.zeros((channels,), "bn_beta")
    eps = _f32(1e-4)
    if train:
        mean = x.mean(axis=(0, 1, 2))
        var = pt.sqr(x - mean).mean(axis=(0, 1, 2))
    else:
        mean = pytensor.shared(np.zeros((channels,), FLOAT), name="bn_mean")
        var = pytensor.shared(np.ones((channels,), FLOAT), name="bn_var")
    return (x - mean) / pt.sqrt(var + eps) * gamma + beta


def _pool2(x, reduce):
    """2 x 2 pooling with stride 2 of an NHWC tensor (sizes even)."""
    n, h, w, c = _dims(x)
    return reduce(x.reshape((n, h // 2, 2, w // 2, 2, c)), axis=(2, 4))


def _max_pool(x):
    return _pool2(x, pt.max)


def _avg_pool2(x):
    return _pool2(x, pt.mean)


def _avg_pool3(x):
    """3x3 average pooling, stride 1, same size, zeros padded and counted
    (an Inception pool branch)."""
    n, h, w, c = _dims(x)
    total = None
    for window in _shifted(_pad(x, 1), h, w, 3, 1):
        total = window if total is None else total + window
    return total * _f32(1.0 / 9.0)


def _upsample2(x):
    """Nearest-neighbour 2x upsampling of an NHWC tensor."""
    return pt.repeat(pt.repeat(x, 2, axis=1), 2, axis=2)


def _global_avg(x):
    return x.mean(axis=(1, 2))


def _classify(p, features, n_in, n_classes):
    w, b = p.dense(n_in, n_classes)
    return pt.dot(features, w) + b


def _nhwc(x, shape):
    """The NCHW input x, of the given shape (fixed: see _dims), as NHWC."""
    return pt.specify_shape(x, shape).dimshuffle(0, 2, 3, 1)


def _nchw(x):
    return x.dimshuffle(0, 3, 1, 2)


# ------------------------------------------------------------- model wrappers
def _images(batch, channels, size, name="x"):
    var = pt.tensor4(name, dtype=FLOAT)
    return var, (batch, channels, size, size)


def _classifier_model(p, x, x_shape, logits, n_classes, train):
    """Inference: softmax probabilities. Training: cross-entropy + SGD."""
    batch = x_shape[0]
    if not train:
        def make_data(seed=0):
            return [np.random.default_rng(seed).standard_normal(x_shape).astype(FLOAT)]
        return Model([x], [pt.special.softmax(logits, axis=-1)], [], make_data)
    y = pt.ivector("y")
    log_p = pt.special.log_softmax(logits, axis=-1)
    loss = -log_p[pt.arange(y.shape[0]), y].mean()

    def make_data(seed=0):
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(x_shape).astype(FLOAT),
                rng.integers(0, n_classes, size=batch).astype("int32")]
    return Model([x, y], [loss], _sgd(loss, p.params), make_data)


def _regression_model(p, inputs, input_shapes, prediction, target_shape, train):
    """Inference: the prediction. Training: mean squared error + SGD."""
    if not train:
        def make_data(seed=0):
            rng = np.random.default_rng(seed)
            return [rng.standard_normal(s).astype(FLOAT) for s in input_shapes]
        return Model(list(inputs), [prediction], [], make_data)
    target = pt.tensor("target", dtype=FLOAT, shape=(None,) * len(target_shape))
    loss = pt.sqr(prediction - target).mean()

    def make_data(seed=0):
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(s).astype(FLOAT)
                for s in list(input_shapes) + [target_shape]]
    return Model(list(inputs) + [target], [loss], _sgd(loss, p.params), make_data)


def _sgd(loss, params):
    grads = pt.grad(loss, params)
    return [(w, w - LEARNING_RATE * g) for w, g in zip(params, grads)]


# ------------------------------------------------------------------- models
def mlp(train=False, batch=256, n_in=1024, hidden=(1024, 1024, 1024), n_classes=10, seed=1):
    """Multi-layer perceptron: dense + ReLU layers (a chain)."""
    p = _Params(seed)
    x = pt.matrix("x", dtype=FLOAT)
    h, width = x, n_in
    for n in hidden:
        w, b = p.dense(width, n)
        h, width = _relu(pt.dot(h, w) + b), n
    logits = _classify(p, h, width, n_classes)
    return _classifier_model(p, x, (batch, n_in), logits, n_classes, train)


def convnet(train=False, batch=16, size=32, channels=(32, 64, 128), n_classes=10, seed=2):
    """Plain convnet: (conv, ReLU, conv, ReLU, max-pool) per stage, global
    average pooling and a dense classifier (a chain)."""
    p = _Params(seed)
    x, x_shape = _images(batch, 3, size)
    h, c = _nhwc(x, x_shape), 3
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
    h = _relu(norm(_conv(p, _nhwc(x, x_shape), 3, c, bias=not batch_norm), c))
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
    h, c = _relu(_conv(p, _nhwc(x, x_shape), 3, stem)), stem
    for m in range(modules):
        b = 16 * (m + 1)                       # branch width
        b1 = _relu(_conv(p, h, c, b, k=1))
        b2 = _relu(_conv(p, _relu(_conv(p, h, c, b, k=1)), b, 2 * b, k=3))
        b3 = _relu(_conv(p, _relu(_conv(p, h, c, b // 2, k=1)), b // 2, b, k=5))
        b4 = _relu(_conv(p, _avg_pool3(h), c, b, k=1))
        h, c = pt.concatenate([b1, b2, b3, b4], axis=3), 5 * b
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
    h, c = _relu(_conv(p, _nhwc(x, x_shape), 3, stem)), stem
    for blk in range(blocks):
        features = [h]
        for _ in range(layers):
            inp = features[0] if len(features) == 1 else pt.concatenate(features, axis=3)
            cin = c + growth * (len(features) - 1)
            y = _relu(_conv(p, inp, cin, 4 * growth, k=1))
            features.append(_relu(_conv(p, y, 4 * growth, growth, k=3)))
        h, c = pt.concatenate(features, axis=3), c + growth * layers
        if blk < blocks - 1:
            h = _relu(_conv(p, h, c, c // 2, k=1))
            h = _avg_pool2(h)
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

    skips, h, c = [], _nhwc(x, x_shape), 3
    for level in range(levels):
        width = base * 2 ** level
        h = double_conv(h, c, width)
        skips.append((h, width))
        h, c = _max_pool(h), width
    h, c = double_conv(h, c, base * 2 ** levels), base * 2 ** levels
    for skip, width in reversed(skips):
        up = _relu(_conv(p, _upsample2(h), c, width, k=1))
        h, c = double_conv(pt.concatenate([skip, up], axis=3), 2 * width, width), width
    out = _nchw(_conv(p, h, c, 1, k=1))
    return _regression_model(p, [x], [x_shape], out, (batch, 1, size, size), train)


def rnn(train=False, steps=32, batch=64, n_in=256, hidden=512, n_out=256, seed=7):
    """Elman RNN with pytensor.scan (h_t = tanh(x_t W + h_{t-1} U + b)) and
    a dense read-out of every hidden state."""
    p = _Params(seed)
    x = pt.tensor3("x", dtype=FLOAT)                      # (steps, batch, n_in)
    w, b = p.dense(n_in, hidden)
    u = p.weight((hidden, hidden), hidden, "U")
    h0 = pt.zeros((x.shape[1], hidden), dtype=FLOAT)
    xw = pt.dot(x, w) + b                                 # input projection, all steps
    hs = pytensor.scan(lambda xw_t, h, u_: pt.tanh(xw_t + pt.dot(h, u_)),
                       sequences=xw, outputs_info=h0, non_sequences=[u], strict=True,
                       return_updates=False)
    wo, bo = p.dense(hidden, n_out)
    out = pt.dot(hs, wo) + bo                             # (steps, batch, n_out)
    return _regression_model(p, [x], [(steps, batch, n_in)], out,
                             (steps, batch, n_out), train)


def transformer(train=False, batch=4, length=256, dim=256, heads=4, ff=1024, layers=1,
                seed=8):
    """Transformer encoder block(s), post-norm: multi-head self-attention
    + residual + layer norm, then a ReLU feed-forward + residual + layer
    norm. Attention is computed per (sequence, head) pair with plain dots,
    so each layer has batch x heads parallel branches (scores, softmax,
    context) joined by concatenation."""
    p = _Params(seed)
    x = pt.tensor3("x", dtype=FLOAT)                      # (batch, length, dim)
    dh = dim // heads
    scale = _f32(1.0 / np.sqrt(dh))

    def layer_norm(h):
        gamma, beta = p.ones((dim,), "ln_gamma"), p.zeros((dim,), "ln_beta")
        mean = h.mean(axis=-1, keepdims=True)
        var = pt.sqr(h - mean).mean(axis=-1, keepdims=True)
        return (h - mean) / pt.sqrt(var + _f32(1e-5)) * gamma + beta

    h = x.reshape((batch * length, dim))
    for _ in range(layers):
        wq, bq = p.dense(dim, dim)
        wk, bk = p.dense(dim, dim)
        wv, bv = p.dense(dim, dim)
        wo, bo = p.dense(dim, dim)
        q, k, v = (pt.dot(h, w_) + b_ for w_, b_ in ((wq, bq), (wk, bk), (wv, bv)))
        rows = []
        for b in range(batch):
            r = slice(b * length, (b + 1) * length)
            ctx = []
            for hd in range(heads):
                c = slice(hd * dh, (hd + 1) * dh)
                attn = pt.special.softmax(pt.dot(q[r, c], k[r, c].T) * scale, axis=-1)
                ctx.append(pt.dot(attn, v[r, c]))                       # (L, dh)
            rows.append(pt.concatenate(ctx, axis=1))
        ctx = pt.concatenate(rows, axis=0)                               # (B*L, dim)
        h = layer_norm(h + pt.dot(ctx, wo) + bo)
        w1, b1 = p.dense(dim, ff)
        w2, b2 = p.dense(ff, dim)
        h = layer_norm(h + pt.dot(_relu(pt.dot(h, w1) + b1), w2) + b2)
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


# ------------------------------------------------- small dense models
# float64 dense networks for the PyTensor benchmark, the demo and the tests
# (not in the zoo: they have no Theano counterpart). Same Model contract.

def _dense_training_step(x, y, h, ws, batch, width):
    loss = ((h - y) ** 2).mean()
    updates = [(w, w - 0.01 * g) for w, g in zip(ws, pt.grad(loss, ws))]

    def make_data(seed=0):
        rng = np.random.default_rng(seed)
        return [rng.standard_normal((batch, width)), rng.standard_normal((batch, width))]
    return Model([x, y], [loss], updates, make_data)


def skip_mlp(levels=4, width=1024, batch=256, seed=1):
    """A U-Net's shape in dense layers, training step: an encoder that
    halves the width, a decoder that doubles it and adds the encoder's
    activation of the same width (skip connections keep activations alive
    across: the order matters); tanh layers, float64, plain SGD."""
    rng = np.random.default_rng(seed)
    x, y = pt.matrix("x"), pt.matrix("y")
    ws, skips, h, d = [], [], x, width
    for i in range(levels):
        w = pytensor.shared(rng.standard_normal((d, d // 2)) * 0.05, name=f"down{i}")
        ws.append(w)
        skips.append(h)
        h = pt.tanh(h @ w)
        d //= 2
    for i in range(levels):
        w = pytensor.shared(rng.standard_normal((d, d * 2)) * 0.05, name=f"up{i}")
        ws.append(w)
        h = pt.tanh(h @ w) + skips.pop()
        d *= 2
    return _dense_training_step(x, y, h, ws, batch, width)


def dense_mlp(depth=6, width=512, batch=256, seed=0):
    """A plain stack of tanh layers, training step (a chain: little for an
    order to save); float64, plain SGD."""
    rng = np.random.default_rng(seed)
    x, y = pt.matrix("x"), pt.matrix("y")
    ws = [pytensor.shared(rng.standard_normal((width, width)) * 0.05, name=f"w{i}")
          for i in range(depth)]
    h = x
    for w in ws:
        h = pt.tanh(h @ w)
    return _dense_training_step(x, y, h, ws, batch, width)


def branches(k=4, n=600):
    """k independent dot-tanh-sum chains summed: a forward pass, no weights
    (every input is an argument), float64."""
    x = pt.matrix("x")
    ws = [pt.matrix(f"w{i}") for i in range(k)]
    out = sum(pt.tanh(x @ w).sum(axis=0) for w in ws)

    def make_data(seed=0):
        rng = np.random.default_rng(seed)
        return [rng.random((n, n)) / n for _ in range(k + 1)]
    return Model([x] + ws, [out], [], make_data)
