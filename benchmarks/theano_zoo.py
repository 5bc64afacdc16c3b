"""The Theano models benchmarks/run_theano.py measures.

Every model of lowmem.theano._models, as inference and as a training step
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
    model: str                   # a lowmem.theano._models name
    train: bool                  # training step (True) or inference
    options: dict = field(default_factory=dict, hash=False)   # builder size options

    @property
    def name(self):
        return f"{self.model}-{'train' if self.train else 'infer'}"

    def build(self):
        """(inputs, outputs, updates, make_data) of this entry."""
        from lowmem.theano import _models as models
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


def add_selection_arguments(ap, quick_note=""):
    """--quick and --models, for the runners that take entries from here."""
    ap.add_argument("--quick", action="store_true",
                    help=f"only {', '.join(QUICK_MODELS)}{quick_note}")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help=f"only these models (of {', '.join(MODELS)})")


def selected_entries(ap, args):
    """The entries --quick / --models select; an unknown model is a usage error."""
    try:
        return entries(quick=args.quick, only=args.models)
    except ValueError as e:
        ap.error(str(e))


if __name__ == "__main__":
    for e in entries():
        print(e.name)
