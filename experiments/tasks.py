"""Comparison tasks: one per reference model, each with its data, variants and pictures.

A task knows how to make its data for a preset, which variants it compares, which
hyperparameters exist for which variant, how to build a compiled model from
hyperparameters, and how to draw what a trained model attends to.
"""

import keras

from attention_zoo import zoo
from attention_zoo.experiments import plots

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
    model_class = None

    def owns(self, model):
        """Whether `model` (e.g. loaded from a .keras file) is this task's model."""
        return self.model_class is not None and isinstance(model, self.model_class)

    def variants(self):
        raise NotImplementedError

    def declare(self, hp, variants):
        """Declares the conditional hyperparameters; returns the chosen variant."""
        return hp.Choice("variant", list(variants))

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

    def picture(self, model, data, path):
        """Draws what the model attends to into `path` (PNG); returns False if it has no picture."""
        return False

    def overview(self, models, data, path):
        """One picture of the best model of every variant together; False if the task has none."""
        return False


@register_task
class KernelRegressionTask(Task):
    """The first lesson: Nadaraya–Watson kernel regression, non-parametric vs parametric."""

    name = "kernel_regression"
    objective = ("val_mse", "min")
    batch_size = 1024  # full batch: the whole training set is the memory
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

    def picture(self, model, data, path):
        plots.kernel_regression_lesson({model.name: model}, data, path)
        return True

    def overview(self, models, data, path):
        plots.kernel_regression_lesson(models, data, path)
        return True
