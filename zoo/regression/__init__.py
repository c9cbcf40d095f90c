"""The kernel-regression lesson: Nadaraya-Watson regression written as attention."""

from attention_zoo.zoo.regression.kernel_regression import KernelRegression, make_regression_data

__all__ = ["KernelRegression", "make_regression_data"]
