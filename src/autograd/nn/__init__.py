"""`ag.nn`: modules, layers, activations, `functional` (as F) and `init`."""
from . import functional, init
from .activation import ELU, LeakyReLU, LogSoftmax, PReLU, ReLU, Sigmoid, Sign, Softmax, Tanh
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear,
                     MaxPool2d, Sequential)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,
                   NLLLoss)
from .module import Module, Parameter
from .summary import Summary

__all__ = ["Module", "Parameter", "Summary", "Sequential", "Linear", "Conv2d", "MaxPool2d",
           "AvgPool2d", "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d", "Identity", "ReLU",
           "Sigmoid", "Tanh", "LeakyReLU", "PReLU", "ELU", "Softmax", "LogSoftmax", "Sign",
           "MSELoss", "L1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
           "NLLLoss", "functional", "init"]
