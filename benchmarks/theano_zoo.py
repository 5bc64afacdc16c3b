"""The Theano models benchmarks/run_theano.py measures.

Every model of lowmem.theano.models, as inference and as a training step
(loss + SGD updates of every weight), at the builders' default sizes:
activations of 0.25-4 MiB, so that a call runs in well under a second and
compiles in seconds once Theano's C code is cached.

    python -m benchmarks.theano_zoo          # list the entries
"""

from dataclasses import dataclass, field

MODELS = ("mlp", "convnet", "resnet", "inception", "densenet", "unet", "rnn", "transformer")
# --quick: two chains and two multi-branch networks.
QUICK_MODELS = ("mlp", "convnet", "inception", "unet")


@dataclass(frozen=True)
class Entry:
    model: str                   # a lowmem.theano.models name
    train: bool                  # training step (True) or inference
    options: dict = field(default_factory=dict, hash=False)   # builder size options

    @property
    def name(self):
        return f"{self.model}-{'train' if self.train else 'infer'}"

    def build(self):
        """(inputs, outputs, updates, make_data) of this entry."""
        from lowmem.theano import models
        return models.build(self.model, train=self.train, **self.options)


def entries(quick=False, only=None):
    """The benchmark's entries, inference then training step per model.
    `only`: model names to keep (all when None)."""
    names = QUICK_MODELS if quick else MODELS
    if only:
        unknown = sorted(set(only) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
        names = [m for m in MODELS if m in only]
    return [Entry(m, train) for m in names for train in (False, True)]


if __name__ == "__main__":
    for e in entries():
        print(e.name)
