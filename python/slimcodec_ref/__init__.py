"""PyTorch reference of the slimcodec model (docs/model.md) and a tiny safetensors reader/writer."""
from .model import (Conv2D, FusedMBConv, FusedMBConvT, SqueezeExcite, ConvNorm, Member, Ensemble,
                    Reconstructor, SplitModel, ensemble_weight, preprocess, count_parameters,
                    kMemberParameters, IMAGENET_MEAN, IMAGENET_STD)
from .safetensors_io import save_safetensors, load_safetensors, safetensors_bytes

__all__ = [
    "Conv2D", "FusedMBConv", "FusedMBConvT", "SqueezeExcite", "ConvNorm", "Member", "Ensemble",
    "Reconstructor", "SplitModel", "ensemble_weight", "preprocess", "count_parameters", "kMemberParameters",
    "IMAGENET_MEAN", "IMAGENET_STD", "save_safetensors", "load_safetensors", "safetensors_bytes",
]
