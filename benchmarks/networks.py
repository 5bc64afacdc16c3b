"""Real networks at their published depth and width, built in Theano, for
the scheduler benchmark (issue 9). benchmarks/make_graphs.py compiles them,
calls each once with LowMemMode (which measures every array's size and
every node's workspace) and saves the graph the scheduler sees to
benchmarks/graphs/; the benchmark itself then runs without Theano.

Networks (NCHW, float32, 1000 classes):

- ``resnet50``     He et al. 2016, bottleneck blocks [3, 4, 6, 3], widths
                   64-512 (x4), stride on the 3x3 conv (the "v1.5" variant).
- ``mobilenetv2``  Sandler et al. 2018, width 1.0: inverted residual blocks
                   (1x1 expand, 3x3 depthwise = conv2d with num_groups equal
                   to the channels, 1x1 project), ReLU6, 1280-channel head.
- ``densenet121``  Huang et al. 2017, blocks [6, 12, 24, 16], growth 32,
                   BN-ReLU-1x1(128)-BN-ReLU-3x3(32) layers, each reading the
                   concatenation of every earlier feature map of its block;
                   transitions halve the channels and average-pool.
- ``inception3``   Szegedy et al. 2016 (Inception-v3) style: its stem, 3
                   modules A (35x35 grid in the paper), reduction A, 4
                   modules C with 1x7/7x1 factorised convolutions, reduction
                   B, 2 modules E with 1x3/3x1 splits. "Style": every
                   convolution keeps its size ('half' padding) except the
                   stride-2 ones, so 224 input gives 28/14/7 grids instead of
                   35/17/8.
- ``nasnet``       NASNet-A (Zoph et al. 2018) style: 3 stacks of N normal
                   cells with 2 reduction cells between, each cell 5 blocks
                   combining two hidden states with separable 3x3/5x5/7x7
                   convolutions (ReLU, depthwise, pointwise, BN, twice), 3x3
                   average/max pooling and identity, the unused block outputs
                   concatenated; 44 filters as NASNet-A Mobile (4 @ 1056) but
                   N=8 normal cells per stack (26 cells in all), so that the
                   compiled inference function has over 3,000 Apply nodes
                   (N=4 gave 1,869); stem conv 32.

Each as inference at batch 1 and as a training step (cross-entropy + SGD
on every weight, BN with batch statistics) at batch 2, both on 224x224
images (BN at inference with fixed statistics). On the 2-core benchmark
machine (Theano's C code, NumPy's BLAS) one training call takes a few
seconds and one inference call under a second, well below the ~30 s that
would call for smaller images; compiling a training step takes 2-4 min.

    from benchmarks import networks
    inputs, outputs, updates, make_data = networks.build("resnet50", train=False)
"""

import numpy as np

# lowmem.theano first: it sets Theano's blas.ldflags default, without which
# Theano 1.0.5 cannot be imported on this NumPy.
from lowmem.theano._models import _batch_norm, _classifier_model, _images, _Params

import theano.tensor as T  # noqa: E402
from theano.tensor.nnet import conv2d  # noqa: E402
from theano.tensor.signal.pool import pool_2d  # noqa: E402

N_CLASSES = 1000
INFER_BATCH, INFER_SIZE = 1, 224
TRAIN_BATCH = 2
TRAIN_SIZE = {"resnet50": 224, "mobilenetv2": 224, "densenet121": 224, "inception3": 224,
              "nasnet": 224}


# ------------------------------------------------------------- building blocks
class _Net:
    """Weights and the BN mode of one network."""

    def __init__(self, seed, train):
        self.p = _Params(seed)
        self.train = train

    def conv(self, x, c_in, c_out, k=3, stride=1, groups=1, kw=None):
        """Bias-free convolution, 'half' padding (odd kernels keep the size;
        stride 2 halves it, rounding up). `kw`: width of a non-square kernel
        (k is then its height). groups > 1: grouped / depthwise."""
        kh, kw = k, (k if kw is None else kw)
        w = self.p.weight((c_out, c_in // groups, kh, kw), c_in // groups * kh * kw, "conv")
        return conv2d(x, w, border_mode="half", subsample=(stride, stride),
                      num_groups=groups)

    def bn(self, x, c):
        return _batch_norm(self.p, x, c, self.train)

    def conv_bn(self, x, c_in, c_out, k=3, stride=1, groups=1, kw=None, act="relu"):
        h = self.bn(self.conv(x, c_in, c_out, k, stride, groups, kw), c_out)
        if act == "relu":
            return T.nnet.relu(h)
        if act == "relu6":
            return T.clip(h, np.float32(0), np.float32(6))
        return h

    def logits(self, h, c):
        w, b = self.p.dense(c, N_CLASSES)
        return T.dot(h.mean(axis=(2, 3)), w) + b


def _max_pool3(x, stride=2):
    return pool_2d(x, ws=(3, 3), stride=(stride, stride), pad=(1, 1), ignore_border=True,
                   mode="max")


def _avg_pool3(x, stride=1):
    # average_inc_pad: exc_pad has no gradient with padding in Theano 1.0.5
    return pool_2d(x, ws=(3, 3), stride=(stride, stride), pad=(1, 1), ignore_border=True,
                   mode="average_inc_pad")


def _avg_pool2(x):
    return pool_2d(x, ws=(2, 2), ignore_border=True, mode="average_exc_pad")


# -------------------------------------------------------------------- networks
def resnet50(net, x):
    h = _max_pool3(net.conv_bn(x, 3, 64, k=7, stride=2))
    c = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            r = net.conv_bn(h, c, width, k=1)
            r = net.conv_bn(r, width, width, k=3, stride=stride)
            r = net.conv_bn(r, width, 4 * width, k=1, act=None)
            skip = h if b > 0 else net.conv_bn(h, c, 4 * width, k=1, stride=stride, act=None)
            h, c = T.nnet.relu(r + skip), 4 * width
    return h, c


MOBILENETV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))   # (t, c, n, s)


def mobilenetv2(net, x):
    h, c = net.conv_bn(x, 3, 32, k=3, stride=2, act="relu6"), 32
    for t, c_out, n, s in MOBILENETV2_BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            r = h if t == 1 else net.conv_bn(h, c, hidden, k=1, act="relu6")
            r = net.conv_bn(r, hidden, hidden, k=3, stride=stride, groups=hidden, act="relu6")
            r = net.conv_bn(r, hidden, c_out, k=1, act=None)
            h = r + h if stride == 1 and c == c_out else r
            c = c_out
    return net.conv_bn(h, c, 1280, k=1, act="relu6"), 1280


def densenet121(net, x, growth=32, blocks=(6, 12, 24, 16)):
    h, c = _max_pool3(net.conv_bn(x, 3, 64, k=7, stride=2)), 64
    for i, layers in enumerate(blocks):
        features = [h]
        for _ in range(layers):
            inp = features[0] if len(features) == 1 else T.concatenate(features, axis=1)
            cin = c + growth * (len(features) - 1)
            y = net.conv(T.nnet.relu(net.bn(inp, cin)), cin, 4 * growth, k=1)
            features.append(net.conv(T.nnet.relu(net.bn(y, 4 * growth)), 4 * growth,
                                     growth, k=3))
        h, c = T.concatenate(features, axis=1), c + growth * layers
        if i < len(blocks) - 1:
            h = _avg_pool2(net.conv(T.nnet.relu(net.bn(h, c)), c, c // 2, k=1))
            c //= 2
    return T.nnet.relu(net.bn(h, c)), c


def inception3(net, x):
    cb = net.conv_bn
    h = cb(x, 3, 32, stride=2)
    h = cb(h, 32, 32)
    h = _max_pool3(cb(h, 32, 64))
    h = cb(h, 64, 80, k=1)
    h, c = _max_pool3(cb(h, 80, 192)), 192

    for pool_c in (32, 64, 64):                                   # modules A
        b1 = cb(h, c, 64, k=1)
        b2 = cb(cb(h, c, 48, k=1), 48, 64, k=5)
        b3 = cb(cb(cb(h, c, 64, k=1), 64, 96), 96, 96)
        b4 = cb(_avg_pool3(h), c, pool_c, k=1)
        h, c = T.concatenate([b1, b2, b3, b4], axis=1), 224 + pool_c

    b1 = cb(h, c, 384, stride=2)                                  # reduction A
    b2 = cb(cb(cb(h, c, 64, k=1), 64, 96), 96, 96, stride=2)
    h, c = T.concatenate([b1, b2, _max_pool3(h)], axis=1), 384 + 96 + c

    for mid in (128, 160, 160, 192):                              # modules C
        b1 = cb(h, c, 192, k=1)
        b2 = cb(cb(cb(h, c, mid, k=1), mid, mid, k=1, kw=7), mid, 192, k=7, kw=1)
        b3 = cb(h, c, mid, k=1)                                   # 7x1, 1x7, 7x1, 1x7
        for j, (kh, kw) in enumerate(((7, 1), (1, 7), (7, 1), (1, 7))):
            b3 = cb(b3, mid, 192 if j == 3 else mid, k=kh, kw=kw)
        b4 = cb(_avg_pool3(h), c, 192, k=1)
        h, c = T.concatenate([b1, b2, b3, b4], axis=1), 768

    b1 = cb(cb(h, c, 192, k=1), 192, 320, stride=2)               # reduction B
    b2 = cb(cb(cb(cb(h, c, 192, k=1), 192, 192, k=1, kw=7), 192, 192, k=7, kw=1),
            192, 192, stride=2)
    h, c = T.concatenate([b1, b2, _max_pool3(h)], axis=1), 320 + 192 + c

    for _ in range(2):                                            # modules E
        b1 = cb(h, c, 320, k=1)
        a = cb(h, c, 384, k=1)
        b2 = T.concatenate([cb(a, 384, 384, k=1, kw=3), cb(a, 384, 384, k=3, kw=1)], axis=1)
        d = cb(cb(h, c, 448, k=1), 448, 384)
        b3 = T.concatenate([cb(d, 384, 384, k=1, kw=3), cb(d, 384, 384, k=3, kw=1)], axis=1)
        b4 = cb(_avg_pool3(h), c, 192, k=1)
        h, c = T.concatenate([b1, b2, b3, b4], axis=1), 2048
    return h, c


# NASNet-A cell structure: per block (op_left, input_left, op_right, input_right),
# inputs 0 = previous cell, 1 = cell before it, 2+ = earlier blocks of the cell.
NASNET_NORMAL = (("sep3", 0, "id", 0), ("sep3", 1, "sep5", 0), ("avg", 0, "id", 1),
                 ("avg", 1, "avg", 1), ("sep5", 1, "sep3", 1))
NASNET_REDUCE = (("sep5", 0, "sep7", 1), ("max", 0, "sep7", 1), ("avg", 0, "sep5", 1),
                 ("id", 2, "avg", 3), ("sep3", 2, "max", 0))


def nasnet(net, x, cells=8, filters=44, stem=32):
    """NASNet-A style (see the module docstring); the 'previous' hidden
    states are fitted to a cell's size by a ReLU-1x1 conv-BN (stride 2 when
    the grid shrank), as in the paper's adjustment layers."""

    def fit(h, c, size_ratio, f):
        h = T.nnet.relu(h)
        if size_ratio == 2:
            h = _avg_pool2(h)
        return net.conv_bn(h, c, f, k=1, act=None)

    def sep(h, f, k, stride):
        for i in range(2):
            h = T.nnet.relu(h)
            h = net.conv(h, f, f, k=k, stride=stride if i == 0 else 1, groups=f)
            h = net.bn(net.conv(h, f, f, k=1), f)
        return h

    def op(name, h, f, stride):
        if name.startswith("sep"):
            return sep(h, f, int(name[3:]), stride)
        if name == "avg":
            return _avg_pool3(h, stride)
        if name == "max":
            return _max_pool3(h, stride)
        return h if stride == 1 else fit(h, f, 2, f)     # identity across a reduction

    def cell(structure, prev, prev_c, prev2, prev2_c, prev2_ratio, f, reduce):
        states = [fit(prev, prev_c, 1, f), fit(prev2, prev2_c, prev2_ratio, f)]
        used = set()
        for left, li, right, ri in structure:
            s_l = 2 if reduce and li < 2 else 1
            s_r = 2 if reduce and ri < 2 else 1
            states.append(op(left, states[li], f, s_l) + op(right, states[ri], f, s_r))
            used.update((li, ri))
        out = [s for i, s in enumerate(states) if i >= 2 and i not in used]
        return T.concatenate(out, axis=1), f * len(out)

    h = net.conv_bn(x, 3, stem, k=3, stride=2, act=None)
    prev, prev_c, prev2, prev2_c, ratio = h, stem, h, stem, 1
    f = filters
    for stack in range(3):
        if stack > 0:
            f *= 2
            out, c = cell(NASNET_REDUCE, prev, prev_c, prev2, prev2_c, ratio, f, True)
            prev, prev_c, prev2, prev2_c, ratio = out, c, prev, prev_c, 2
        for _ in range(cells):
            # fit() halves prev2 when the grid shrank at the last cell
            out, c = cell(NASNET_NORMAL, prev, prev_c, prev2, prev2_c, ratio, f, False)
            prev, prev_c, prev2, prev2_c, ratio = out, c, prev, prev_c, 1
    return T.nnet.relu(prev), prev_c


NETWORKS = {"resnet50": resnet50, "mobilenetv2": mobilenetv2, "densenet121": densenet121,
            "inception3": inception3, "nasnet": nasnet}
SEEDS = {"resnet50": 50, "mobilenetv2": 2, "densenet121": 121, "inception3": 3, "nasnet": 5}


def shape_of(name, train):
    """(batch, image size) of a network's inference graph or training step."""
    return (TRAIN_BATCH, TRAIN_SIZE[name]) if train else (INFER_BATCH, INFER_SIZE)


def build(name, train=False):
    """(inputs, outputs, updates, make_data) of network `name`
    (lowmem.theano._models' convention: softmax output at inference; loss
    and SGD updates of every weight for a training step)."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    batch, size = shape_of(name, train)
    net = _Net(SEEDS[name], train)
    x, x_shape = _images(batch, 3, size)
    h, c = NETWORKS[name](net, x)
    return _classifier_model(net.p, x, x_shape, net.logits(h, c), N_CLASSES, train)
