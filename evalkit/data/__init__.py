"""Dataset readers (ImageFolder, CSV manifest, ImageNet-val), decoding and subsets."""

from evalkit.data.datasets import Dataset, Sample, load_dataset
from evalkit.data.decode import DecodeError, decode_image

__all__ = ["Dataset", "DecodeError", "Sample", "decode_image", "load_dataset"]
