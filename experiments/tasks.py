"""Comparison tasks: one per reference model, each with its data, variants and pictures.

A task knows how to make its data for a preset, which variants it compares, which
hyperparameters exist for which variant, how to build a compiled model from
hyperparameters, and how to draw what a trained model attends to.
"""

import pathlib

import keras
import numpy as np

from attention_zoo import layers, zoo
from attention_zoo.experiments import plots
from attention_zoo.experiments._task_data import _TED, _check_tfds, _generated_only, _real_texts
from attention_zoo.zoo import text_data

TASKS = {}


def register_task(cls):
    TASKS[cls.name] = cls()
    return cls


def get_task(name):
    if name not in TASKS:
        raise ValueError(
            f"Unknown model {name!r}. Known models: {', '.join(sorted(TASKS))}. "
            f"Received: --model={name}"
        )
    return TASKS[name]


class Task:
    """What the comparison needs to know about one reference model."""

    name = None
    # The validation metric the sweep optimises: (name, "min" or "max").
    objective = ("val_loss", "min")
    batch_size = 32
    presets = ("quick", "full")
    # Epochs per training in the quick preset (when no budget is given).
    quick_epochs = 5
    model_class = None
    # Whether `picture` draws a text the user chooses (`attention-zoo plot --text`).
    takes_text = False

    def owns(self, model):
        """Whether `model` (e.g. loaded from a .keras file) is this task's model."""
        return self.model_class is not None and isinstance(model, self.model_class)

    def variants(self):
        raise NotImplementedError

    def declare(self, hp, variants, preset="quick"):
        """Declares the variant and the hyperparameters that exist only for some variants.

        Each attention variant's `search_space` (constructor argument -> choices)
        becomes hyperparameters of that name, active only for that variant; the
        quick preset takes the first choice of each, so that its grid is one trial
        per variant. Returns the chosen variant. (Sweeps saved before this named
        multi_head's argument `heads`: resumed, they keep every finished trial
        and train multi_head once more under `num_heads`.)
        """
        variant = hp.Choice("variant", list(variants))
        for name in variants:
            space = _search_space(name)
            if space:
                with hp.conditional_scope("variant", [name]):
                    for arg, choices in space.items():
                        hp.Choice(arg, list(choices[:1] if preset == "quick" else choices))
        return variant

    @staticmethod
    def score_kwargs(hp, variant):
        """The arguments of the attention layer that the hyperparameters set."""
        return {arg: hp.get(arg) for arg in _search_space(variant)}

    def data(self, preset, seed, path=None):
        """Returns {"train": (x, y), "val": (x, y)} for the preset."""
        raise NotImplementedError

    def build(self, hp, data, variants):
        """A compiled model for the hyperparameters `hp`; declares them through `declare`."""
        raise NotImplementedError

    def evaluate(self, model, data):
        """The objective on the validation split (higher or lower is better per `objective`)."""
        x, y = data["val"]
        results = model.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)
        return float(results[self.objective[0].removeprefix("val_")])

    def picture(self, model, data, path, text=None):
        """Draws what the model attends to into `path` (PNG); returns False if it has no picture.

        Tasks with `takes_text` draw `text` when given (then `data` may be None),
        else an example of `data`'s validation split.
        """
        return False

    def default_text(self, model):
        """`(text, description)`: what `picture` draws for `model` when no text is chosen."""
        raise NotImplementedError

    def overview(self, models, data, path):
        """One picture of the best model of every variant together; False if the task has none."""
        return False


def _search_space(variant):
    """The variant's tuner search space; {} for a name that is not an attention layer."""
    if variant not in layers.available():
        return {}
    return layers.get_class(variant).search_space


@register_task
class KernelRegressionTask(Task):
    """The first lesson: Nadaraya–Watson kernel regression, non-parametric vs parametric."""

    name = "kernel_regression"
    objective = ("val_mse", "min")
    batch_size = 1024  # full batch: the whole training set is the memory
    quick_epochs = 5
    model_class = zoo.KernelRegression

    def variants(self):
        return ["nonparametric", "parametric"]

    def data(self, preset, seed, path=None):
        if path is not None:
            raise ValueError(
                f"kernel_regression has only its generated data. Received: --data={path}"
            )
        x_train, y_train, x_test, y_truth = zoo.make_regression_data(seed=seed)
        return {"train": (x_train, y_train[:, None]), "val": (x_test, y_truth[:, None])}

    def build(self, hp, data, variants):
        variant = self.declare(hp, variants)
        x_train, y_train = data["train"]
        model = zoo.KernelRegression(
            x_train, y_train[:, 0], learn_width=variant == "parametric", name=variant
        )
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", metrics=["mse"])
        return model

    def picture(self, model, data, path, text=None):
        plots.kernel_regression_lesson({model.name: model}, data, path)
        return True

    def overview(self, models, data, path):
        plots.kernel_regression_lesson(models, data, path)
        return True


@register_task
class TextClassifierTask(Task):
    """The text classifier: a BiGRU encoder, then attention pooling with each variant."""

    name = "text_classifier"
    objective = ("val_accuracy", "max")
    batch_size = 64
    quick_epochs = 3
    model_class = zoo.TextClassifier
    takes_text = True
    length = 24

    def variants(self):
        return ["none", *layers.available()]

    def data(self, preset, seed, path=None):
        if preset == "quick":
            _generated_only(path)
            vocabulary = text_data.task_vocabulary()
            class_names = ["negative", "positive"]
            train = text_data.make_text_task(1200, self.length, negation_rate=0.3, seed=seed)
            val = text_data.make_text_task(300, self.length, negation_rate=0.3, seed=seed + 1)
        else:
            train, val, vocabulary, class_names = _real_texts(path, self.length, seed)
        vectorizer = keras.layers.TextVectorization(
            vocabulary=vocabulary, output_sequence_length=self.length
        )
        return {
            "train": (np.asarray(vectorizer(train[0])), train[1]),
            "val": (np.asarray(vectorizer(val[0])), val[1]),
            "val_texts": val[0],
            "vocabulary": list(vocabulary),
            "class_names": class_names,
            "num_classes": max(len(class_names), int(max(train[1].max(), val[1].max()) + 1)),
            "preset": preset,
        }

    def build(self, hp, data, variants):
        variant = self.declare(hp, variants, data["preset"])
        return zoo.TextClassifier(
            vocab_size=len(data["vocabulary"]) + 2,
            num_classes=data["num_classes"],
            sequence_length=self.length,
            encoder="bigru",
            attention=variant,
            attention_kwargs=self.score_kwargs(hp, variant),
            vocabulary=data["vocabulary"],
            class_names=data.get("class_names"),
            learning_rate=1e-2,
        )

    def picture(self, model, data, path, text=None):
        text = data["val_texts"][0] if text is None else text
        # The class names are the model's own (its config), "0", "1", ... when it has none.
        model.plot_attention(text, str(path))
        return True

    def default_text(self, model):
        if model.vectorizer is None:
            raise ValueError(
                "this text classifier has no vocabulary, so it reads no text to draw. "
                "Received: vocabulary=None"
            )
        length = max(8, min(model.sequence_length, self.length))
        review = text_data.make_text_task(1, length, min_length=8, seed=0)[0][0]
        if "[UNK]" not in model.tokens(review)[0]:
            return review, "a generated review of the quick task, all in the model's vocabulary"
        words = model.get_vocabulary()[2:][: min(12, model.sequence_length)]
        return " ".join(words), f"the first {len(words)} words of the model's vocabulary"


@register_task
class GlimpseTask(Task):
    """The vision family: soft_glimpse_classifier per variant, recurrent_attention_model ("ram"),
    conv_net_classifier ("none")."""

    name = "vision"
    objective = ("val_accuracy", "max")
    # Small batches: the quick preset's 1,347 canvases give 85 steps an epoch, enough for
    # every model to get well above chance in its 4 epochs (64 gave 15 and left them at it).
    batch_size = 16
    quick_epochs = 4
    canvas = 32

    def variants(self):
        return ["none", "ram", *layers.available()]

    def owns(self, model):
        return isinstance(
            model, (zoo.ConvNetClassifier, zoo.RecurrentAttentionModel, zoo.SoftGlimpseClassifier)
        )

    def declare(self, hp, variants, preset="quick"):
        variant = super().declare(hp, variants, preset)
        if "ram" in variants:
            with hp.conditional_scope("variant", ["ram"]):
                hp.Choice("glimpses", [4] if preset == "quick" else [4, 6, 8])
        return variant

    def data(self, preset, seed, path=None):
        from attention_zoo.zoo import image_data

        if preset == "quick":
            _generated_only(path)
            # Each of scikit-learn's 1,797 digits once, at a random place on the canvas.
            x, y = image_data.load_digits_canvas(canvas_size=self.canvas, seed=seed)
            cut = 3 * len(x) // 4
        else:
            # The paper's 60 x 60 cluttered MNIST from the IDX files in the --data folder
            # (or tensorflow-datasets when it is not given).
            if path is None:
                _check_tfds("mnist", "test", self.name)
                images, labels = image_data.load_mnist_tfds("test")
            else:
                folder = pathlib.Path(path)
                images, labels = image_data.load_mnist_idx(
                    folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
                )
            x = image_data.cluttered_mnist(images, seed=seed)
            y = labels
            cut = int(0.8 * len(x))
        return {"train": (x[:cut], y[:cut]), "val": (x[cut:], y[cut:]), "preset": preset}

    def build(self, hp, data, variants):
        variant = self.declare(hp, variants, data["preset"])
        shape = tuple(data["train"][0].shape[1:])
        if variant == "none":
            return zoo.ConvNetClassifier(image_shape=shape)
        if variant == "ram":
            return zoo.RecurrentAttentionModel(image_shape=shape, num_glimpses=hp.get("glimpses"))
        return zoo.SoftGlimpseClassifier(
            image_shape=shape, attention=variant, attention_kwargs=self.score_kwargs(hp, variant)
        )

    def picture(self, model, data, path, text=None):
        from attention_zoo.zoo.vision import glimpse_plots

        image, label = data["val"][0][0], data["val"][1][0]
        if isinstance(model, zoo.RecurrentAttentionModel):
            glimpse_plots.plot_glimpse_trajectory(model, image, str(path), label=label)
        elif isinstance(model, zoo.SoftGlimpseClassifier):
            glimpse_plots.plot_attention_maps(model, image, str(path), label=label)
        else:
            return False
        return True


@register_task
class TranslatorTask(Task):
    """The translator (Luong decoder) with each attention variant; exact match by greedy."""

    name = "translator"
    objective = ("val_exact_match", "max")
    batch_size = 64
    quick_epochs = 3
    model_class = zoo.Translator
    takes_text = True
    decoder = "luong"

    def variants(self):
        return ["none", *layers.available()]

    def data(self, preset, seed, path=None):
        from attention_zoo.zoo import translation_data

        if preset == "quick":
            _generated_only(path)
            train = translation_data.dates(1200, seed=seed)
            val = translation_data.dates(300, seed=seed + 1)
            split = "char"
        else:
            if path is None:
                _check_tfds(_TED, "train", self.name)
                pairs = translation_data.load_tfds_pairs(_TED, split="train")
            else:
                pairs = translation_data.load_sentence_pairs(path)
            train, val = translation_data.split_pairs(pairs, test_size=min(2000, len(pairs) // 5))
            split = "word"
        encoder = zoo.Translator.from_pairs(train, split=split)
        return {
            "train": encoder.encode_pairs(train),
            "val": encoder.encode_pairs(val),
            "train_pairs": train,
            "val_pairs": val,
            "split": split,
            "preset": preset,
        }

    def build(self, hp, data, variants):
        variant = self.declare(hp, variants, data["preset"])
        return zoo.Translator.from_pairs(
            data["train_pairs"],
            split=data["split"],
            decoder=self.decoder,
            attention=variant,
            attention_kwargs=self.score_kwargs(hp, variant),
        )

    def evaluate(self, model, data):
        sources = [s for s, _ in data["val_pairs"]]
        outputs = model.translate(sources)
        hits = [o == t for o, (_, t) in zip(outputs, data["val_pairs"], strict=True)]
        return float(np.mean(hits))

    def picture(self, model, data, path, text=None):
        if model.attention_name == "none":
            return False
        text = data["val_pairs"][0][0] if text is None else text
        from attention_zoo.zoo.seq2seq import alignment_plots

        alignment_plots.plot_alignment(model, text, path=str(path))
        return True

    def default_text(self, model):
        from attention_zoo.zoo import translation_data

        source = translation_data.dates(1, seed=0)[0][0]
        # Id 1 is [UNK]: a token outside the model's source vocabulary.
        if not (model.encode_sources([source]) == 1).any():
            return source, "a generated date of the quick task, all in the model's vocabulary"
        tokens = model.source_vocabulary[:12]
        separator = "" if model.source_split == "char" else " "
        return separator.join(tokens), f"the first {len(tokens)} tokens of its source vocabulary"
